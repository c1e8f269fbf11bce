"""`pulse serve`: the API (ingestion, uploads, incidents, usage, the dashboard) under uvicorn."""

from __future__ import annotations

import argparse

from pulse.cli.common import PROJECT_CONFIGS, bootstrap, with_dsn, with_kafka


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the API: POST /v1/events, /v1/uploads; GET /v1/incidents, /v1/usage")
    with_kafka(p)
    with_dsn(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--configs", default=str(PROJECT_CONFIGS), help="tenant configs (API key hashes, plans)")
    p.add_argument("--plans", default=None, help="plans file (default: the configs' plans.yaml, else the shipped one)")
    p.add_argument("--plans-check-s", type=float, default=10.0, help="check the plans file for changes this often")
    p.add_argument("--max-body-bytes", type=int, default=5 * 1024 * 1024)
    p.add_argument("--max-records", type=int, default=10_000, help="records per request")
    p.add_argument(
        "--max-upload-bytes", type=int, default=2 * 1024**3, help="an upload's bytes, as sent and decoded (Parquet)"
    )
    p.add_argument("--max-upload-rows", type=int, default=1_000_000, help="rows per upload")
    feedback = p.add_mutually_exclusive_group()
    feedback.add_argument("--rules-topic", help="send labels to the scoring job as feedback on this topic (on --kafka; "
                          "the job's pulse stream --rules-topic)")  # fmt: skip
    feedback.add_argument("--rules-folder", help="send labels to the scoring job as feedback into this folder "
                          "(the job's --rules-folder)")  # fmt: skip
    p.add_argument("--ready-check-s", type=float, default=5.0, help="GET /readyz asks Kafka at most this often")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from pulse.api.app import ApiSettings, create_app
    from pulse.tenants.plans import plans_file_for

    settings = ApiSettings(
        bootstrap=bootstrap(args),
        configs_dir=args.configs,
        plans_path=args.plans or str(plans_file_for(args.configs)),
        topic=args.topic,
        max_body_bytes=args.max_body_bytes,
        max_records=args.max_records,
        max_upload_bytes=args.max_upload_bytes,
        max_upload_rows=args.max_upload_rows,
        ready_check_s=args.ready_check_s,
        clickhouse=args.clickhouse,
        plans_check_s=args.plans_check_s,
        rules_topic=args.rules_topic,
        rules_folder=args.rules_folder,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0
