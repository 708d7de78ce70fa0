-- A run's latest LangGraph checkpoint, read by a function whose plan the connection keeps.
--
-- The node runner reads it at every step (`flightdeck.engine.checkpointer.StepSaver.prefetch`)
-- with the very query LangGraph's `PostgresSaver.get_tuple` runs. Sent as a statement, Postgres
-- parsed and planned that query anew each time: 0.3 ms (parse 0.1, plan 0.2) for a look-up that
-- then executes in 0.05 ms (server log, p50 of a `retrieve` step). Here it is LangGraph's query
-- word for word (`tests/integration/test_node_round_trips.py` checks it against the installed
-- LangGraph's, so an upgrade that changes it fails there), with the same columns, the same
-- types, and the same row-level security (the function runs as its caller).
CREATE FUNCTION flightdeck_latest_checkpoint(p_thread_id text, p_checkpoint_ns text)
    RETURNS TABLE (thread_id text, checkpoint jsonb, checkpoint_ns text, checkpoint_id text,
                   parent_checkpoint_id text, metadata jsonb, channel_values bytea[],
                   pending_writes bytea[])
    LANGUAGE plpgsql
    STABLE
    AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    select
        thread_id,
        checkpoint,
        checkpoint_ns,
        checkpoint_id,
        parent_checkpoint_id,
        metadata,
        (
            select array_agg(array[bl.channel::bytea, bl.type::bytea, bl.blob])
            from jsonb_each_text(checkpoint -> 'channel_versions')
            inner join checkpoint_blobs bl
                on bl.thread_id = checkpoints.thread_id
                and bl.checkpoint_ns = checkpoints.checkpoint_ns
                and bl.channel = jsonb_each_text.key
                and bl.version = jsonb_each_text.value
        ) as channel_values,
        (
            select
            array_agg(array[cw.task_id::text::bytea, cw.channel::bytea, cw.type::bytea, cw.blob, convert_to(cw.task_path, 'UTF8'), cw.idx::text::bytea])
            from checkpoint_writes cw
            where cw.thread_id = checkpoints.thread_id
                and cw.checkpoint_ns = checkpoints.checkpoint_ns
                and cw.checkpoint_id = checkpoints.checkpoint_id
        ) as pending_writes
    from checkpoints
    WHERE thread_id = p_thread_id AND checkpoint_ns = p_checkpoint_ns
    ORDER BY checkpoint_id DESC LIMIT 1;
END
$$;

GRANT EXECUTE ON FUNCTION flightdeck_latest_checkpoint(text, text) TO flightdeck_app;
