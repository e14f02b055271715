"""Steward's schema as an ordered list: index + 1 is the version. Never edit a released entry; append.

Two schemas: ``steward`` (threads, runs, keys, audit) and ``sandbox``. The sandbox's tables belong to the systems
of record the tools declare (:class:`steward.sandbox.SystemOfRecord`), each with its own migrations; the kernel
keeps only ``sandbox.faults``, which every tool call consults. (Entry 1 once also created the first workflow's
tables; they moved to their systems of record, which create them only where they do not exist yet.)
"""

MIGRATIONS: list[str] = [
    # 1: the sandbox schema and its fault table, threads, append-only audit log
    """
    CREATE SCHEMA IF NOT EXISTS sandbox;

    CREATE TABLE sandbox.faults (
        tenant text NOT NULL,
        tool text NOT NULL,
        mode text NOT NULL CHECK (mode IN ('timeout', 'error', 'invalid_output')),
        remaining int NOT NULL CHECK (remaining >= 0),
        PRIMARY KEY (tenant, tool)
    );

    CREATE TABLE steward.threads (
        thread_id text PRIMARY KEY,
        tenant text NOT NULL,
        workflow text NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        metadata jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX threads_tenant ON steward.threads (tenant, created_at DESC);

    CREATE TABLE steward.audit_events (
        id bigserial PRIMARY KEY,
        ts timestamptz NOT NULL DEFAULT clock_timestamp(),
        run_id text,
        thread_id text NOT NULL,
        tenant text NOT NULL,
        user_id text,
        workflow text NOT NULL,
        step text NOT NULL,
        type text NOT NULL
            CHECK (type IN ('model_call', 'tool_call', 'policy', 'validator', 'approval', 'final')),
        tool text,
        tool_version text,
        args jsonb,
        status text NOT NULL,
        decision text,
        rule_id text,
        reason text,
        latency_ms double precision,
        tokens_in integer,
        tokens_out integer,
        cost_usd numeric(14, 8),
        detail jsonb NOT NULL DEFAULT '{}'
    );
    CREATE INDEX audit_events_thread ON steward.audit_events (thread_id, id);

    CREATE FUNCTION steward.audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'steward.audit_events is append-only (% refused)', TG_OP;
    END $$;
    CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON steward.audit_events
        FOR EACH ROW EXECUTE FUNCTION steward.audit_is_append_only();
    CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON steward.audit_events
        FOR EACH STATEMENT EXECUTE FUNCTION steward.audit_is_append_only();
    """,
    # 2: threads carry status and cached state; runs are queued and leased; API keys
    """
    ALTER TABLE steward.threads
        ALTER COLUMN workflow DROP NOT NULL,
        ADD COLUMN status text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'busy', 'interrupted', 'error')),
        ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN state_values jsonb,
        ADD COLUMN interrupts jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN overrides jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN error text;
    UPDATE steward.threads SET overrides = coalesce(metadata -> 'overrides', '{}'), metadata = metadata - 'overrides';
    CREATE INDEX threads_tenant_status ON steward.threads (tenant, status, updated_at DESC);

    CREATE TABLE steward.runs (
        run_id text PRIMARY KEY,
        thread_id text NOT NULL REFERENCES steward.threads (thread_id) ON DELETE CASCADE,
        tenant text NOT NULL,
        workflow text NOT NULL,
        status text NOT NULL
            CHECK (status IN ('pending', 'running', 'success', 'error', 'interrupted', 'timeout')),
        payload jsonb NOT NULL,
        created_by text NOT NULL,
        metadata jsonb NOT NULL DEFAULT '{}',
        multitask_strategy text NOT NULL DEFAULT 'reject',
        attempt integer NOT NULL DEFAULT 0,
        worker text,
        lease_until timestamptz,
        claimable_at timestamptz NOT NULL DEFAULT now(),
        cancel_requested boolean NOT NULL DEFAULT false,
        error text,
        outcome jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE UNIQUE INDEX runs_one_running_per_thread ON steward.runs (thread_id) WHERE status = 'running';
    CREATE INDEX runs_pending ON steward.runs (claimable_at, created_at) WHERE status = 'pending';
    CREATE INDEX runs_thread ON steward.runs (thread_id, created_at);
    CREATE INDEX runs_leases ON steward.runs (lease_until) WHERE status = 'running';

    CREATE TABLE steward.api_keys (
        key_hash text PRIMARY KEY,
        prefix text NOT NULL,
        name text NOT NULL,
        tenant text NOT NULL,
        roles text[] NOT NULL CHECK (roles <@ ARRAY['runner', 'approver', 'admin'] AND cardinality(roles) > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
    );
    """,
    # 3: slow sandbox backends (delay before the call, or after it committed: a crash window)
    """
    ALTER TABLE sandbox.faults DROP CONSTRAINT faults_mode_check;
    ALTER TABLE sandbox.faults
        ADD CONSTRAINT faults_mode_check
            CHECK (mode IN ('timeout', 'error', 'invalid_output', 'delay', 'delay_after')),
        ADD COLUMN delay_ms integer NOT NULL DEFAULT 0 CHECK (delay_ms >= 0);
    """,
    # 4: each run carries the overrides it runs under (no thread read when it starts)
    """
    ALTER TABLE steward.runs ADD COLUMN overrides jsonb NOT NULL DEFAULT '{}';
    """,
    # 5: policy sources by version, so a run can be replayed under the policy it ran with
    """
    CREATE TABLE steward.policy_versions (
        version text PRIMARY KEY,
        workflow text NOT NULL,
        source text NOT NULL,
        first_seen timestamptz NOT NULL DEFAULT now()
    );
    """,
    # 6: an intent event is written (and committed) before a write executes, so a crash between the write and
    #    the end of its step still leaves the write in the trail
    """
    ALTER TABLE steward.audit_events DROP CONSTRAINT audit_events_type_check;
    ALTER TABLE steward.audit_events ADD CONSTRAINT audit_events_type_check
        CHECK (type IN ('model_call', 'tool_call', 'policy', 'validator', 'approval', 'final', 'intent'));
    """,
    # 7: kill switches ('*' = all tenants / workflows / tools)
    """
    CREATE TABLE steward.kill_switches (
        tenant text NOT NULL,
        workflow text NOT NULL,
        tool text NOT NULL,
        reason text NOT NULL,
        set_by text NOT NULL,
        set_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, workflow, tool)
    );
    """,
    # 8: operating modes set by operators (over the declared one; '*' = every tenant)
    """
    CREATE TABLE steward.modes (
        tenant text NOT NULL,
        workflow text NOT NULL,
        mode text NOT NULL CHECK (mode IN ('autopilot', 'suggest', 'shadow')),
        set_by text NOT NULL,
        set_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, workflow)
    );
    """,
    # 9: fair claims: the queue is read per tenant, and each tenant's running runs are counted
    """
    CREATE INDEX runs_pending_tenant ON steward.runs (tenant, created_at) WHERE status = 'pending';
    CREATE INDEX runs_running_tenant ON steward.runs (tenant) WHERE status = 'running';
    """,
    # 10: the escalation queue, spend caps, tool rate limits (token buckets), cached reads
    """
    CREATE TABLE steward.escalations (
        id bigserial PRIMARY KEY,
        tenant text NOT NULL,
        workflow text NOT NULL,
        thread_id text NOT NULL,
        run_id text NOT NULL UNIQUE,
        outcome text NOT NULL,
        reason_code text NOT NULL,
        reason text NOT NULL,
        status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'taken', 'closed')),
        assignee text,
        notes jsonb NOT NULL DEFAULT '[]',
        resolution text,
        closed_by text,
        closed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX escalations_queue ON steward.escalations (tenant, status, created_at, id);
    CREATE INDEX threads_waiting ON steward.threads (updated_at) WHERE status = 'interrupted';

    CREATE TABLE steward.spend_caps (
        tenant text NOT NULL,
        workflow text NOT NULL,
        usd_per_day numeric(14, 4) NOT NULL CHECK (usd_per_day >= 0),
        set_by text NOT NULL,
        set_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant, workflow)
    );
    CREATE INDEX audit_events_spend ON steward.audit_events (tenant, ts) WHERE type = 'model_call';

    CREATE TABLE steward.rate_buckets (
        tenant text NOT NULL,
        tool text NOT NULL,
        tokens double precision NOT NULL,
        refilled_at timestamptz NOT NULL,
        PRIMARY KEY (tenant, tool)
    );

    CREATE TABLE steward.tool_cache (
        tenant text NOT NULL,
        tool text NOT NULL,
        version text NOT NULL,
        args_hash text NOT NULL,
        output jsonb NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (tenant, tool, version, args_hash)
    );
    """,
    # 11: per-tenant time windows over the audit trail and runs (/stats, spend)
    """
    DROP INDEX steward.audit_events_spend;
    CREATE INDEX audit_events_tenant_ts ON steward.audit_events (tenant, ts);
    CREATE INDEX runs_tenant_created ON steward.runs (tenant, created_at);
    """,
    # 12: traces: the case's first run span (resumes continue its trace), the trace id of runs and audit events
    """
    ALTER TABLE steward.threads ADD COLUMN trace_parent text;
    ALTER TABLE steward.runs ADD COLUMN trace_id text;
    ALTER TABLE steward.audit_events ADD COLUMN trace_id text;
    """,
    # 13: notifications: a run's webhook, tenants' endpoints and signing secrets, the outbox
    """
    ALTER TABLE steward.runs ADD COLUMN webhook text;
    CREATE TABLE steward.webhooks (
        id bigserial PRIMARY KEY,
        tenant text NOT NULL,
        url text NOT NULL,
        events text[] NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webhooks_tenant ON steward.webhooks (tenant);
    CREATE TABLE steward.webhook_secrets (
        tenant text PRIMARY KEY,
        secret text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE steward.outbox (
        id bigserial PRIMARY KEY,
        tenant text NOT NULL,
        event text NOT NULL,
        url text NOT NULL,
        payload jsonb NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        delivered_at timestamptz,
        failed_at timestamptz,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX outbox_due ON steward.outbox (next_attempt_at) WHERE delivered_at IS NULL AND failed_at IS NULL;
    CREATE INDEX outbox_tenant ON steward.outbox (tenant, id);
    """,
    # 14: bounded storage: thread TTLs, and finding finished threads whose old checkpoints may go
    """
    ALTER TABLE steward.threads ADD COLUMN expires_at timestamptz;
    CREATE INDEX threads_expiring ON steward.threads (expires_at) WHERE expires_at IS NOT NULL;
    CREATE INDEX threads_finished ON steward.threads (workflow, updated_at) WHERE status IN ('idle', 'error');
    """,
    # 15: a tenant's approval inbox, oldest first, without reading other tenants' waiting threads
    """
    CREATE INDEX threads_inbox ON steward.threads (tenant, updated_at) WHERE status = 'interrupted';
    """,
    # 16: thread ids are per tenant: two tenants may each have thread "t-1", and neither learns of the other's.
    #     Threads and their runs are keyed by (tenant, thread_id); checkpoints, which LangGraph keys by one
    #     string, by "<tenant>/<thread_id>" (thread ids hold no "/"), existing ones included.
    """
    ALTER TABLE steward.runs DROP CONSTRAINT runs_thread_id_fkey;
    ALTER TABLE steward.threads DROP CONSTRAINT threads_pkey;
    ALTER TABLE steward.threads ADD PRIMARY KEY (tenant, thread_id);
    ALTER TABLE steward.runs ADD CONSTRAINT runs_thread_fkey
        FOREIGN KEY (tenant, thread_id) REFERENCES steward.threads (tenant, thread_id) ON DELETE CASCADE;
    DROP INDEX steward.runs_one_running_per_thread;
    CREATE UNIQUE INDEX runs_one_running_per_thread ON steward.runs (tenant, thread_id) WHERE status = 'running';
    DROP INDEX steward.runs_thread;
    CREATE INDEX runs_thread ON steward.runs (tenant, thread_id, created_at);
    DROP INDEX steward.audit_events_thread;
    CREATE INDEX audit_events_thread ON steward.audit_events (tenant, thread_id, id);
    ALTER TABLE steward.escalations DROP CONSTRAINT IF EXISTS escalations_thread_id_fkey;
    DO $$
    BEGIN
        IF to_regclass('checkpoints') IS NOT NULL THEN
            UPDATE checkpoints c SET thread_id = t.tenant || '/' || t.thread_id
              FROM steward.threads t WHERE c.thread_id = t.thread_id;
            UPDATE checkpoint_blobs c SET thread_id = t.tenant || '/' || t.thread_id
              FROM steward.threads t WHERE c.thread_id = t.thread_id;
            UPDATE checkpoint_writes c SET thread_id = t.tenant || '/' || t.thread_id
              FROM steward.threads t WHERE c.thread_id = t.thread_id;
        END IF;
    END $$;
    """,
    # 17: the inbox and thread searches read pages in index order: their ORDER BY ends with thread_id (a stable
    #     order for equal times), which the indexes now carry too (without it Postgres sorted every match)
    """
    DROP INDEX steward.threads_inbox;
    CREATE INDEX threads_inbox ON steward.threads (tenant, updated_at, thread_id) WHERE status = 'interrupted';
    DROP INDEX steward.threads_tenant;
    CREATE INDEX threads_tenant ON steward.threads (tenant, created_at DESC, thread_id);
    DROP INDEX steward.threads_tenant_status;
    CREATE INDEX threads_tenant_status ON steward.threads (tenant, status, created_at DESC, thread_id);
    """,
    # 18: the audit trail under its own retention. The owner sets how many days it keeps (NULL: for ever); the
    #     service role may only ask for the pruning (it may not change the setting, nor delete a row itself), and
    #     the append-only trigger lets through only the deletes of that function; audit_due says which events are
    #     due (what the pruning deletes and a dry run counts)
    """
    CREATE TABLE steward.audit_retention (
        only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
        days int CHECK (days IS NULL OR days >= 1)
    );
    INSERT INTO steward.audit_retention DEFAULT VALUES;

    CREATE OR REPLACE FUNCTION steward.audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' AND current_setting('steward.pruning_audit', true) = 'on' THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'steward.audit_events is append-only (% refused)', TG_OP;
    END $$;

    CREATE FUNCTION steward.audit_due(max_rows int, only_tenant text) RETURNS SETOF bigint
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT e.id FROM steward.audit_events e, steward.audit_retention r
         WHERE r.days IS NOT NULL AND e.ts < now() - make_interval(days => r.days)
           AND (only_tenant IS NULL OR e.tenant = only_tenant)
           AND NOT EXISTS (SELECT 1 FROM steward.threads t WHERE t.tenant = e.tenant
                              AND t.thread_id = e.thread_id AND t.status IN ('busy', 'interrupted'))
         ORDER BY e.id LIMIT max_rows
    $$;

    CREATE FUNCTION steward.prune_audit(max_rows int, only_tenant text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    DECLARE
        deleted bigint;
    BEGIN
        PERFORM set_config('steward.pruning_audit', 'on', true);
        DELETE FROM steward.audit_events WHERE id IN (SELECT steward.audit_due(max_rows, only_tenant));
        GET DIAGNOSTICS deleted = ROW_COUNT;
        PERFORM set_config('steward.pruning_audit', 'off', true);
        RETURN deleted;
    END $$;
    REVOKE ALL ON FUNCTION steward.prune_audit(int, text) FROM PUBLIC;
    """,
]
