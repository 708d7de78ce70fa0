"""`make dev`: the whole platform on one machine, on embedded defaults.

Starts embedded Postgres (data under `.flightdeck/`), the AWS emulator, creates the state
machines from the compiled workflows, seeds a demo tenant (with eight weeks of history and two
live runs the first time), writes `.flightdeck/dev-credentials.json`, prints a signed `curl`
and a one-time sign-in link to the dashboard, and serves the API and the dashboard (the
static export in `frontend/out`, when built) until Ctrl-C. Started again on the same data, it
keeps the tenant and continues unfinished runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import signal
import socket
import sys
import threading
import uuid
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from flightdeck.local import demo, site
from flightdeck.local.emulator import Emulator
from flightdeck.local.postgres import EmbeddedPostgres
from flightdeck.local.seed import DemoCredentials, seed_demo
from flightdeck.settings import EnvVar
from flightdeck.store import sessions

# The emulator's Secrets Manager secrets between runs (see `save_secrets`).
SECRETS_FILE = "secrets-manager.json"

SAMPLE_TICKET = {
    "ticket_id": "T-1001",
    "customer_email": "sam@example.com",
    "subject": "Charged twice, I want a refund",
    "body": "My card was charged twice for order 5512. Please refund the duplicate charge.",
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="flightdeck-dev", description=__doc__)
    parser.add_argument("--data-dir", default=os.environ.get("FLIGHTDECK_DATA_DIR", ".flightdeck"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--api-port", type=int, default=int(os.environ.get("FLIGHTDECK_API_PORT", "8000"))
    )
    parser.add_argument(
        "--aws-port", type=int, default=int(os.environ.get("FLIGHTDECK_AWS_PORT", "4566"))
    )
    parser.add_argument(
        "--site-dir",
        default=os.environ.get("FLIGHTDECK_SITE_DIR", str(site.DEFAULT_SITE_DIR)),
        help="the dashboard's static export to serve (`make frontend` builds it)",
    )
    parser.add_argument(
        "--no-demo-history",
        action="store_true",
        help="leave a new demo tenant empty (no past runs, no live runs)",
    )
    return parser.parse_args(argv)


def signed_curl(api_base: str, creds: DemoCredentials, workflow: str = "support_triage") -> str:
    """A shell snippet that signs and sends the sample ticket; valid whenever it is pasted
    (it signs with the current time, as the Standard Webhooks spec requires)."""
    key_hex = base64.b64decode(creds.webhook_secret.removeprefix("whsec_")).hex()
    body = json.dumps(SAMPLE_TICKET, separators=(",", ":"))
    url = f"{api_base}/v1/webhooks/{workflow}?tenant={creds.tenant_slug}"
    return "\n".join(
        [
            f"BODY={shlex.quote(body)}",
            'ID="msg_$(date +%s%N)"; TS="$(date +%s)"',
            'SIG="$(printf \'%s\' "$ID.$TS.$BODY" | openssl dgst -sha256 -mac HMAC '
            f'-macopt hexkey:{key_hex} -binary | base64)"',
            f"curl -sS -X POST {shlex.quote(url)} -H 'content-type: application/json' "
            '-H "webhook-id: $ID" -H "webhook-timestamp: $TS" -H "webhook-signature: v1,$SIG" '
            '--data-binary "$BODY"',
        ]
    )


def load_previous(path: Path) -> DemoCredentials | None:
    try:
        data = json.loads(path.read_text())
        return DemoCredentials(
            tenant_id=data["tenant_id"],
            tenant_slug=data["tenant_slug"],
            api_token=data["api_token"],
            webhook_secret=data["webhook_secret"],
            admin_token=data["admin_token"],
            viewer_token=data["viewer_token"],
        )
    except (OSError, ValueError, KeyError):
        return None


# The emulator's trigger KMS key (id and material), kept between `make dev` runs.
TRIGGER_KEY_FILE = "trigger-key.json"


def configure_environment(
    database_url: str, emulator: Emulator, data_dir: Path, prefix: str, *, keep_keys: bool = False
) -> None:
    """The settings of a local platform. With `keep_keys` the emulator's trigger key is kept in
    `data_dir` (restored on the next start), so triggers sealed earlier still open."""
    os.environ[EnvVar.STAGE] = "development"
    os.environ[EnvVar.DATABASE_URL] = database_url
    os.environ[EnvVar.AWS_ENDPOINT_URL] = emulator.endpoint_url
    os.environ[EnvVar.AWS_REGION] = emulator.region
    os.environ[EnvVar.STATE_MACHINE_ARN_PREFIX] = emulator.state_machine_arn_prefix(prefix)
    os.environ.setdefault(EnvVar.ARTIFACT_BUCKET, "flightdeck-artifacts")
    os.environ[EnvVar.TRIGGER_KEY_ID] = emulator.kms_key(
        f"{prefix}triggers", saved=data_dir / TRIGGER_KEY_FILE if keep_keys else None
    )
    # Every function runs in this one process, so its pool serves them all at once (each
    # running node holds a connection for the node's duration); on AWS each has its own.
    os.environ.setdefault(EnvVar.DATABASE_POOL_SIZE, "20")
    # One log line per node step; metrics are for CloudWatch, not the terminal.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")


def resume_unfinished(svc: Any) -> list[str]:
    """Executions live in the emulator's memory; runs that were under way when it stopped
    (stopped, or killed outright) continue from their last checkpoint on a new execution. A run
    that cannot continue (its workflow is gone) is reported and left as it is: it does not keep
    the others, or the stack, from starting."""
    from botocore.exceptions import BotoCoreError, ClientError

    from flightdeck.errors import FlightdeckError
    from flightdeck.store import runs as run_store
    from flightdeck.store import tenants

    resumed = []
    with svc.connection() as conn, conn.transaction():
        tenant_ids = tenants.all_ids(conn)
    for tenant_id in tenant_ids:
        with svc.tenant(tenant_id) as conn:
            unfinished = run_store.unfinished(conn)
        for run in unfinished:
            attempt = run.execution_name.count("-resume") + 1
            try:
                node = svc.runs.resume(tenant_id, run.id, suffix=f"resume{attempt}")
            except (FlightdeckError, BotoCoreError, ClientError) as exc:
                print(f"flightdeck: run {run.id} cannot continue: {exc}", file=sys.stderr)
                continue
            if node is not None:
                resumed.append(str(run.id))
    return resumed


def restore_secrets(emulator: Emulator, path: Path) -> int:
    """Put back the Secrets Manager secrets `save_secrets` kept: the emulator holds its state
    in memory only, and Postgres names secrets (webhook and callback signing secrets) that
    must outlive a restart of `make dev`. Returns how many were restored."""
    try:
        saved = json.loads(path.read_text())
    except FileNotFoundError:
        return 0
    client = emulator.client("secretsmanager")
    for name, value in saved.items():
        try:
            client.create_secret(Name=name, SecretString=value)
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=name, SecretString=value)
    return len(saved)


def save_secrets(emulator: Emulator, path: Path, prefix: str) -> int:
    """Keep every secret under `prefix` in `path` (readable by its owner only, beside the
    Postgres data) for `restore_secrets`. Returns how many were kept."""
    client = emulator.client("secretsmanager")
    names = [
        entry["Name"]
        for page in client.get_paginator("list_secrets").paginate()
        for entry in page["SecretList"]
        if entry["Name"].startswith(prefix)
    ]
    values = {n: client.get_secret_value(SecretId=n)["SecretString"] for n in names}
    staging = path.with_suffix(".tmp")
    staging.touch(mode=0o600)
    staging.chmod(0o600)  # before anything is written to it
    staging.write_text(json.dumps(values))
    staging.replace(path)
    return len(values)


def keep_secrets(emulator: Emulator, data_dir: Path, prefix: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        save_secrets(emulator, data_dir / SECRETS_FILE, prefix)
    except (OSError, BotoCoreError, ClientError) as exc:
        print(f"flightdeck: could not keep the emulator's secrets: {exc}", file=sys.stderr)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for name, port in (("API", args.api_port), ("AWS emulator", args.aws_port)):
        if not port_free(args.host, port):
            print(
                f"flightdeck: port {port} for the {name} is in use on {args.host}; stop what "
                "holds it or choose another with FLIGHTDECK_API_PORT / FLIGHTDECK_AWS_PORT",
                file=sys.stderr,
            )
            return 2
    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    prefix = "flightdeck-"

    print(f"flightdeck: starting embedded Postgres in {data_dir / 'pgdata'}", flush=True)
    postgres = EmbeddedPostgres(data_dir / "pgdata").start()
    emulator: Emulator | None = None
    svc: Any = None
    # Delivers due callbacks every second while the API serves (on AWS: a scheduled Lambda).
    callbacks_stop = threading.Event()
    callbacks_thread: threading.Thread | None = None
    # Starts runs left queued without an execution, every minute (on AWS: a scheduled Lambda).
    sweeper_thread: threading.Thread | None = None
    try:
        database_url = postgres.ensure_database("flightdeck")
        emulator = Emulator(args.host, args.aws_port).start()
        print(f"flightdeck: AWS emulator on {emulator.endpoint_url}", flush=True)
        configure_environment(database_url, emulator, data_dir, prefix, keep_keys=True)
        restore_secrets(emulator, data_dir / SECRETS_FILE)

        from flightdeck.engine.seal_triggers import seal_all
        from flightdeck.services import reset_services, services
        from flightdeck.store.db import connect
        from flightdeck.store.migrate import migrate
        from flightdeck.store.secrets_move import move_secrets

        # Migrations run as the database owner; the application works as a non-owner role.
        with connect(database_url) as owner:
            applied = migrate(owner)
        reset_services()
        svc = services()
        if applied:
            print(f"flightdeck: applied migrations {applied}", flush=True)
        # Signing secrets still in Postgres (kept before 0012) move into the emulator's
        # Secrets Manager. Its state lives in memory: the demo secret is written again below.
        with connect(database_url) as owner:
            moved = move_secrets(owner, svc.secrets)
        if moved.total:
            print(f"flightdeck: moved {moved.total} signing secret(s) to Secrets Manager")
        machines = emulator.deploy(svc.registry, prefix=prefix, bucket=svc.settings.artifact_bucket)
        print(f"flightdeck: state machines {sorted(machines)}", flush=True)

        credentials_path = data_dir / "dev-credentials.json"
        with svc.connection() as conn:
            creds = seed_demo(
                conn,
                svc.registry,
                load_previous(credentials_path),
                knowledge=svc.knowledge,
                secrets=svc.secrets,
            )
        keep_secrets(emulator, data_dir, svc.settings.secrets_prefix)
        api_base = f"http://{args.host}:{args.api_port}"
        credentials_path.write_text(json.dumps({"api_base": api_base, **asdict(creds)}, indent=2))
        credentials_path.chmod(0o600)
        resumed = resume_unfinished(svc)
        if resumed:
            print(f"flightdeck: continuing {len(resumed)} unfinished run(s)", flush=True)
        tenant_id = uuid.UUID(creds.tenant_id)
        if not args.no_demo_history:
            with svc.tenant(tenant_id) as conn:
                seeded = 0 if demo.has_runs(conn, tenant_id) else demo.seed_history(conn, tenant_id)
            if seeded:
                demo.start_live_runs(svc, tenant_id)
                print(
                    f"flightdeck: demo tenant seeded with {seeded} past runs and "
                    f"{len(demo.LIVE_TICKETS)} live ones",
                    flush=True,
                )
        # Triggers stored in plaintext (before migration 0011; the demo history writes them
        # that way) are sealed like new ones.
        sealed = seal_all(svc)
        if sealed.sealed:
            print(f"flightdeck: sealed {sealed.sealed} stored trigger(s)", flush=True)
        site_dir = Path(args.site_dir).resolve()
        with svc.connection() as conn, conn.transaction():
            sign_in = sessions.create_code(
                conn, tenant_id, "operator", timedelta(hours=24), "local development"
            )
        dashboard = (
            f"Dashboard (one-time operator sign-in, valid 24 h):\n\n"
            f"  {api_base}/signin/#code={sign_in.code}\n\n"
            f"or sign in at {api_base}/signin/ with a token from {credentials_path.name}\n"
            if site.built(site_dir)
            else f"Dashboard: not built ({site_dir} has no index.html); `make frontend` builds it\n"
        )

        print(
            "\nflightdeck: ready. Credentials in "
            f"{credentials_path}\n\nSend a signed webhook (paste into a shell):\n\n"
            f"{signed_curl(api_base, creds)}\n\n"
            "Then look at the run and its pending approval:\n\n"
            f"curl -sS {api_base}/v1/runs/<run_id> -H 'authorization: Bearer {creds.api_token}'\n"
            f"curl -sS '{api_base}/v1/approvals?status=pending' "
            f"-H 'authorization: Bearer {creds.api_token}'\n"
            f"curl -sS -X POST {api_base}/v1/approvals/<approval_id>/decision "
            f"-H 'authorization: Bearer {creds.api_token}' -H 'content-type: application/json' "
            '-d \'{"decision": "approve"}\'\n\n'
            f"{dashboard}",
            flush=True,
        )

        import uvicorn

        from flightdeck.api.app import create_app
        from flightdeck.local import prometheus

        # uvicorn shuts down on SIGTERM, then re-raises it to the previous handler: make that
        # one end like Ctrl-C, so everything below is stopped in order.
        signal.signal(signal.SIGTERM, _interrupt)
        callbacks_thread = threading.Thread(
            target=svc.callbacks.run_until, args=(callbacks_stop,), name="callbacks", daemon=True
        )
        callbacks_thread.start()
        from flightdeck.engine.sweeper import RunSweeper

        sweeper_thread = threading.Thread(
            target=RunSweeper(connection=svc.connection, runs=svc.runs).run_until,
            args=(callbacks_stop,),
            name="sweeper",
            daemon=True,
        )
        sweeper_thread.start()
        app = create_app()
        prometheus.mount(app)
        if site.built(site_dir):
            site.mount(app, site_dir)
        uvicorn.run(app, host=args.host, port=args.api_port, log_level="warning")
    except KeyboardInterrupt:
        pass
    finally:
        print("\nflightdeck: stopping", flush=True)
        callbacks_stop.set()
        if callbacks_thread is not None:
            callbacks_thread.join(timeout=15)
        if sweeper_thread is not None:
            sweeper_thread.join(timeout=15)
        if svc is not None and emulator is not None:
            keep_secrets(emulator, data_dir, svc.settings.secrets_prefix)
        if svc is not None:
            svc.close()
        if emulator is not None:
            emulator.stop()
        postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
