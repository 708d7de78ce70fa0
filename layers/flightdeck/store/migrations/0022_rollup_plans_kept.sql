-- Outcome rollups (0019, 0021): the functions that read the base rows keep their plan.
--
-- Every outcomes and health read calls `flightdeck_run_rollup` or `flightdeck_node_rollup`
-- (0021's, of five arguments) for the minutes at its window's ends, and a read right after a
-- write to the hour that has just ended first calls both for that hour (through
-- `flightdeck_refresh_rollups` and the three-argument forms, which call these). 0019 declared
-- them `plan_cache_mode = force_custom_plan`, so every call planned its statement anew. At the
-- largest tenant of `bench/million_runs.py` (an hour: ~80 runs, ~230 node events) planning
-- took 1.1 ms (run figures) and 0.4 ms (node figures), as long as executing them (1.0 and
-- 0.8 ms with the plan kept): the refresh of that hour took 3.8 ms (server time, median), 2.3
-- with the plans kept; a read of 28 days with nothing to recompute took 13.1 ms (figures, wall
-- clock, median), 10.8 with them.
--
-- 0019 planned each call for the range it is given, expecting a generic plan to get hours
-- wrong. It does not: for an hour the generic plan is the custom one (the tenant's runs of the
-- range by index, then their outcomes, approvals, annotations or node events by run id); it
-- only counts on ~60 runs per range where a custom plan counts ~25. Over longer ranges it costs
-- about what custom plans cost (the largest tenant's run and node figures of a day: 24 and
-- 24 ms against 33 and 24; of a week: 157 and 172 ms against 150 and 176; of its six months:
-- 4.4 and 5.1 s against 3.7 and 5.2): a backfill through these functions
-- (none calls them now; 0019's ran its own) would take up to a fifth longer. Left to the
-- default (`auto`), Postgres compares the generic plan's estimate (~4,500, for ~120 runs) with
-- the custom ones' (~1,000) and plans every call anyway: the generic plan is forced.
--
-- `flightdeck_roll_up` keeps custom plans: its generic plan rolls up a day in 103 ms, its
-- custom plans in 12 ms. `flightdeck_refresh_rollups` sets nothing (0021): its own statements
-- are index lookups and keep their plans already. Answers are unchanged.

ALTER FUNCTION flightdeck_run_rollup(uuid, timestamptz, timestamptz, timestamptz, timestamptz)
    SET plan_cache_mode = force_generic_plan;

ALTER FUNCTION flightdeck_node_rollup(uuid, timestamptz, timestamptz, timestamptz, timestamptz)
    SET plan_cache_mode = force_generic_plan;
