"""Prompts of the support triage workflow. Kept here, never inside infrastructure code."""

SYSTEM = (
    "You are the support assistant of a small business. Answer only with JSON matching the "
    "requested schema. Be accurate, brief and kind; never promise what the context does not."
)

CLASSIFY = """Classify this support ticket.
Subject: {subject}
Body: {body}
Give the category (billing, technical, account, shipping, general), the urgency (low, normal,
high), whether the customer asks for a refund, and a short search query for the knowledge base."""

DRAFT = """Draft a reply to the customer.
Ticket subject: {subject}
Ticket body: {body}
Category: {category}
Knowledge base context:
{context}
Reply in the business's voice. Give your confidence (0 to 1) that the reply is correct and
complete given the context."""

SCORE = """Score the quality of this support interaction from 0 to 1.
Ticket: {subject}
Reply sent: {reply}
Reviewed by a person: {reviewed}
Explain the score in one sentence."""
