"use client";

import { useEffect, useState } from "react";

import { useSession } from "@/components/SessionProvider";
import { Empty } from "@/components/states";
import { loadConfig } from "@/lib/config";

import styles from "./runs.module.css";

/** What a client with no runs yet does to get the first one: send a signed webhook, usually
 * from n8n, to this tenant's webhook URL. */
export function FirstRunGuide() {
  const { me } = useSession();
  const [apiBase, setApiBase] = useState<string>("");

  useEffect(() => {
    let cancelled = false;
    void loadConfig().then((config) => {
      if (!cancelled) setApiBase(config.apiUrl || window.location.origin);
    });
    return () => {
      cancelled = true;
    };
  }, []);

  const url = `${apiBase || "<API address>"}/v1/webhooks/<workflow>?tenant=${encodeURIComponent(me.tenant_slug)}`;
  return (
    <Empty title="No runs yet">
      <div className={styles.guide}>
        <p>
          A run starts when one of your systems sends Flightdeck a <strong>signed webhook</strong>, usually
          from n8n. Every run then shows up here, live, with each step it took.
        </p>
        <ol>
          <li>
            In n8n, import the Flightdeck trigger workflow (<code>docs/n8n/flightdeck-trigger.json</code>, from your
            agency or the Flightdeck repository) with <em>Workflows → Import from File</em>.
          </li>
          <li>
            Give it your webhook secret (<code>whsec_…</code>) as <code>FLIGHTDECK_WEBHOOK_SECRET</code>. Your
            agency issues it; it signs each delivery, so nobody else can start runs for you.
          </li>
          <li>
            Point it at <code>POST {url}</code>, with the name of the workflow to run, and send one event. It
            appears in this list within seconds.
          </li>
        </ol>
        <p className="muted">
          The n8n guide (<code>docs/n8n/README.md</code>) walks through the setup; the API guide (
          <code>docs/api.md</code>, “Starting runs: signed webhooks”) explains the signature for other senders.
        </p>
      </div>
    </Empty>
  );
}
