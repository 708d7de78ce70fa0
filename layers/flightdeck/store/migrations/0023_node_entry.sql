-- A node step's entry as a function (`flightdeck.store.steps.enter`), so that its statements'
-- plans are kept by the connection instead of made again at every step.
--
-- The entry was one statement (the queued run's move and the node's events in CTEs) that
-- Postgres planned anew on every call: 0.33 ms of planning for a few rows, a third of what
-- the runner's own statements spent planning in a step. The application sends no prepared
-- statements (RDS Proxy would pin the connection); PL/pgSQL keeps the plans of a function's
-- statements per connection all the same, so after its first calls the entry costs its
-- execution alone.
--
-- What it writes is unchanged: nothing for a run that is missing, of another workflow, ended,
-- or that already answered `p_invocation` (a Step Functions state entry run before); else a
-- queued run moves to `p_start` with the `p_started` event, then `p_retried` (when given) and
-- `p_entered` for the node, in that order.
CREATE FUNCTION flightdeck_enter_node(
    p_run uuid, p_tenant uuid, p_workflow text, p_node text, p_attempt integer,
    p_invocation text, p_start text, p_started text, p_retried text, p_entered text,
    p_terminal text[])
    RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    found_status text;
BEGIN
    SELECT r.status INTO found_status FROM runs r
    WHERE r.id = p_run AND r.workflow = p_workflow;
    IF NOT FOUND OR found_status = ANY (p_terminal) OR EXISTS (
        SELECT 1 FROM run_events e WHERE e.run_id = p_run AND e.invocation = p_invocation
    ) THEN
        RETURN;
    END IF;
    IF found_status = 'queued' THEN
        UPDATE runs SET status = p_start, current_node = p_node,
                        started_at = coalesce(started_at, now()), finished_at = NULL,
                        updated_at = now()
        WHERE id = p_run AND status = 'queued';
        IF FOUND THEN
            INSERT INTO run_events (run_id, tenant_id, type, data)
            VALUES (p_run, p_tenant, p_started, '{}');
        END IF;
    END IF;
    IF p_retried IS NOT NULL THEN
        INSERT INTO run_events (run_id, tenant_id, type, node, attempt, data)
        VALUES (p_run, p_tenant, p_retried, p_node, p_attempt, '{}');
    END IF;
    INSERT INTO run_events (run_id, tenant_id, type, node, attempt, data)
    VALUES (p_run, p_tenant, p_entered, p_node, p_attempt, '{}');
END
$$;

GRANT EXECUTE ON FUNCTION flightdeck_enter_node(
    uuid, uuid, text, text, integer, text, text, text, text, text, text[]) TO flightdeck_app;
