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
    v_item record;
    v_depth int;
    v_level text;
    v_limit bigint;
    v_default bigint;
    v_current bigint;
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
    PERFORM 1 FROM anker_limits_usage
        WHERE project = ANY(v_path) AND resource = ANY(v_resources)
        ORDER BY project, resource FOR UPDATE;
    FOR v_item IN
        SELECT key AS resource, value::bigint AS amount
        FROM jsonb_each_text(p_resources) ORDER BY key
    LOOP
        SELECT hard_limit INTO v_default FROM anker_limits_defaults
            WHERE resource = v_item.resource;
        FOR v_depth IN 1 .. array_length(v_path, 1) LOOP
            EXIT WHEN p_model = 'flat' AND v_depth > 1;
            v_level := v_path[v_depth];
            v_limit := NULL;
            SELECT hard_limit INTO v_limit FROM anker_limits_limits
                WHERE project = v_level AND resource = v_item.resource;
            v_limit := coalesce(v_limit, v_default);
            IF v_limit IS NULL THEN
                RETURN jsonb_build_object(
                    'error', 'unknown-resource', 'resource', v_item.resource, 'project', v_level
                );
            END IF;
            SELECT CASE WHEN p_model = 'flat' THEN used ELSE subtree END INTO v_current
                FROM anker_limits_usage
                WHERE project = v_level AND resource = v_item.resource;
            IF v_item.amount > 0 AND v_limit <> -1 AND v_current + v_item.amount > v_limit THEN
                RETURN jsonb_build_object(
                    'error', 'over', 'resource', v_item.resource, 'requested', v_item.amount,
                    'used', v_current, 'limit', v_limit, 'binding', v_level
                );
            END IF;
        END LOOP;
    END LOOP;
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
