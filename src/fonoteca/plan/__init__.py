"""Preservation plan: listen model, budgeted tier selection, coverage, statistics and charts.

Python API:
    planner.run(archive, "optimal" | "anna", budget_bytes, write=True) -> summary dict (`plan --json`)
    planner.build_model(conn, config) + planner.evaluate(model, policy, budget): compare policies on one read
    store.planned_tracks(conn), store.tier_of(conn, rowid), store.latest_run(conn): what ingest reads
    fonoteca.units.parse_size("1.5TiB"), format_size(n): sizes (a module of their own, shared by every stage)
    plays.import_plays(conn, path): play counts that replace the popularity estimate
    stats.write_stats(archive, out_dir): charts as PNG + SVG + JSON
Tables (catalog/migrations/0002_plan.sql): plan, plan_runs, track_plays, plan_sizes, view plan_view.
"""
