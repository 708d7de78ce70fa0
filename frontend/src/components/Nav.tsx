"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";

import { useSession } from "@/components/SessionProvider";

const LINKS = [
  { href: "/", label: "Outcomes" },
  { href: "/runs/", label: "Runs" },
  { href: "/approvals/", label: "Approvals" },
  { href: "/knowledge/", label: "Knowledge" },
  { href: "/health/", label: "Health" },
];

export function Nav() {
  const pathname = usePathname() ?? "/";
  const { me, signOut } = useSession();
  const current = (href: string) =>
    href === "/" ? pathname === "/" : pathname.startsWith(href.replace(/\/$/, ""));
  return (
    <header className="topbar">
      <Link href="/" className="brand">
        Flightdeck
      </Link>
      <nav aria-label="Main">
        <ul>
          {LINKS.map((link) => (
            <li key={link.href}>
              <Link href={link.href} aria-current={current(link.href) ? "page" : undefined}>
                {link.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <div className="who">
        <span className="tenant">{me.tenant_name}</span>
        <span className={`role role-${me.role}`} title="your role">
          {me.role}
        </span>
        <button type="button" className="link-button" onClick={() => signOut()}>
          Sign out
        </button>
      </div>
    </header>
  );
}
