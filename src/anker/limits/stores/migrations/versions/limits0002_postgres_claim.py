"""anker.limits on PostgreSQL: the claim as one server-side function (one round trip).

Revision ID: limits0002
Revises: limits0001
Create Date: 2026-12-07
"""

from alembic import op

revision = "limits0002"
down_revision = "limits0001"
branch_labels = None
depends_on = None

#: Check and reserve in one call, in the caller's transaction (autocommit: one statement).
#: The usage rows of the path are locked in one sorted order before they are read, so
#: concurrent claims on overlapping paths queue instead of deadlocking. Returns a JSON object:
#: {"path": [...], "created": t, "expires": t}, or {"error": ...} with the facts of a refusal,
#: having changed nothing.
CLAIM = """
CREATE OR REPLACE FUNCTION anker_limits_claim(
    p_id text, p_project text, p_resources jsonb, p_lease double precision, p_note text,
    p_model text
) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_path text[];
    v_resources text[];
    v_row record;
    v_refusal jsonb;
    v_rank int;
    v_best int;
    v_now double precision := extract(epoch FROM clock_timestamp());
BEGIN
    WITH RECURSIVE up(id, parent, depth) AS (
        SELECT id, parent, 0 FROM anker_limits_projects WHERE id = p_project
        UNION ALL
        SELECT p.id, p.parent, up.depth + 1 FROM anker_limits_projects p JOIN up ON p.id = up.parent
    )
    SELECT array_agg(id ORDER BY depth) INTO v_path FROM up;
    IF v_path IS NULL THEN
        RETURN jsonb_build_object('error', 'unknown-project', 'project', p_project);
    END IF;
    SELECT array_agg(key ORDER BY key) INTO v_resources FROM jsonb_object_keys(p_resources) key;
    INSERT INTO anker_limits_usage (project, resource, used, reserved, subtree)
        SELECT l, r, 0, 0, 0 FROM unnest(v_path) l, unnest(v_resources) r
        ORDER BY l, r
        ON CONFLICT DO NOTHING;
    -- lock the path's counters in one sorted order and read them with their limits; the
    -- refusal reported is an unknown resource, else the first resource's (by name) nearest
    -- binding level, as the other stores report it
    FOR v_row IN
        SELECT u.project, u.resource, u.used, u.subtree, a.amount,
               array_position(v_path, u.project) AS depth,
               coalesce(l.hard_limit, d.hard_limit) AS hard_limit
        FROM anker_limits_usage u
        JOIN (SELECT key AS resource, value::bigint AS amount
              FROM jsonb_each_text(p_resources)) a ON a.resource = u.resource
        LEFT JOIN anker_limits_limits l ON l.project = u.project AND l.resource = u.resource
        LEFT JOIN anker_limits_defaults d ON d.resource = u.resource
        WHERE u.project = ANY(v_path)
        ORDER BY u.project, u.resource
        FOR UPDATE OF u
    LOOP
        CONTINUE WHEN p_model = 'flat' AND v_row.depth > 1;
        v_rank := array_position(v_resources, v_row.resource) * 10000 + v_row.depth;
        IF v_row.hard_limit IS NULL THEN
            v_rank := v_rank - 100000000;  -- an unknown resource is reported before a limit
        END IF;
        CONTINUE WHEN v_best IS NOT NULL AND v_rank >= v_best;
        IF v_row.hard_limit IS NULL THEN
            v_best := v_rank;
            v_refusal := jsonb_build_object(
                'error', 'unknown-resource', 'resource', v_row.resource, 'project', v_row.project
            );
        ELSIF v_row.amount > 0 AND v_row.hard_limit <> -1 AND (
            CASE WHEN p_model = 'flat' THEN v_row.used ELSE v_row.subtree END
        ) + v_row.amount > v_row.hard_limit THEN
            v_best := v_rank;
            v_refusal := jsonb_build_object(
                'error', 'over', 'resource', v_row.resource, 'requested', v_row.amount,
                'used', CASE WHEN p_model = 'flat' THEN v_row.used ELSE v_row.subtree END,
                'limit', v_row.hard_limit, 'binding', v_row.project
            );
        END IF;
    END LOOP;
    IF v_refusal IS NOT NULL THEN
        RETURN v_refusal;
    END IF;
    UPDATE anker_limits_usage u SET
        used = u.used + CASE WHEN u.project = p_project THEN a.amount ELSE 0 END,
        reserved = u.reserved + CASE WHEN u.project = p_project THEN a.amount ELSE 0 END,
        subtree = u.subtree + a.amount
    FROM (SELECT key AS resource, value::bigint AS amount FROM jsonb_each_text(p_resources)) a
    WHERE u.resource = a.resource AND u.project = ANY(v_path) AND a.amount > 0;
    INSERT INTO anker_limits_claims
        (id, project, path, resources, committed, created, expires, note)
    VALUES (p_id, p_project, to_jsonb(v_path)::text, p_resources::text, false, v_now,
            v_now + p_lease, p_note);
    RETURN jsonb_build_object('path', to_jsonb(v_path), 'created', v_now,
                              'expires', v_now + p_lease);
END;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CLAIM)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS anker_limits_claim(text, text, jsonb, double precision, "
            "text, text)"
        )
