"""anker.limits on PostgreSQL: a batch of claims as one call of a server-side function.

Revision ID: limits0003
Revises: limits0002
Create Date: 2026-12-07
"""

from alembic import op

revision = "limits0003"
down_revision = "limits0002"
branch_labels = None
depends_on = None

#: Check and reserve a batch of claims (a JSON array of {id, project, resources, lease, note})
#: in one statement: the counters of every path of the batch are created where missing and
#: locked in the one sorted order every claim locks in (anker_limits_claim's), read with their
#: limits, then each claim is checked in order against the counters as the earlier granted
#: ones left them; the granted ones are applied with one UPDATE and one INSERT. With p_again
#: (the batch sent again after its connection was lost, perhaps at the commit), a claim whose
#: row is there already is answered as it was granted. Returns a JSON array with one object
#: per claim, as anker_limits_claim returns them. Counters are keyed by
#: length(project) || ':' || project || resource, which no two pairs share.
CLAIMS = """
CREATE OR REPLACE FUNCTION anker_limits_claims(
    p_claims jsonb, p_model text, p_again boolean DEFAULT false
)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_now double precision := extract(epoch FROM clock_timestamp());
    v_flat boolean := p_model = 'flat';
    v_paths jsonb;
    v_levels text[];
    v_resources text[];
    v_keys text[] := '{}';
    v_project text[] := '{}';
    v_resource text[] := '{}';
    v_used bigint[] := '{}';
    v_reserved bigint[] := '{}';
    v_subtree bigint[] := '{}';
    v_limit bigint[] := '{}';
    v_changed boolean[] := '{}';
    v_row record;
    v_claim jsonb;
    v_last text;
    v_path text[];
    v_names text[];
    v_names_now text[];
    v_fresh boolean;
    v_depth int;
    v_path_json jsonb;
    v_path_text text;
    v_idx int[];
    v_unknown jsonb;
    v_expires_at double precision;
    v_done jsonb := '{}';
    v_last_resources jsonb;
    v_name text;
    v_amount bigint;
    v_at int;
    v_current bigint;
    v_refusal jsonb;
    v_outcomes jsonb[] := '{}';
    v_ids text[] := '{}';
    v_owners text[] := '{}';
    v_path_texts text[] := '{}';
    v_amount_texts text[] := '{}';
    v_expires double precision[] := '{}';
    v_notes text[] := '{}';
BEGIN
    -- p_again: the batch is sent again because its connection was lost (perhaps while it
    -- committed): the claims it granted may be there already; they are answered as granted
    -- again, not applied twice (an id taken by a claim of another project or amounts is an
    -- error, and nothing is applied)
    IF p_again THEN
        FOR v_row IN
            SELECT c.id, c.project, c.resources, c.path, c.created, c.expires
            FROM anker_limits_claims c
            WHERE c.id = ANY(ARRAY(SELECT b->>'id' FROM jsonb_array_elements(p_claims) b))
        LOOP
            SELECT b INTO v_claim FROM jsonb_array_elements(p_claims) b
            WHERE b->>'id' = v_row.id LIMIT 1;
            IF v_row.project <> v_claim->>'project'
                    OR v_row.resources::jsonb <> v_claim->'resources' THEN
                RAISE EXCEPTION 'claim id % is taken by another claim', v_row.id
                    USING ERRCODE = 'unique_violation';
            END IF;
            v_done := v_done || jsonb_build_object(v_row.id, jsonb_build_object(
                'path', v_row.path::jsonb, 'created', v_row.created, 'expires', v_row.expires
            ));
        END LOOP;
    END IF;
    WITH RECURSIVE up(start, id, parent, depth) AS (
        SELECT id, id, parent, 0 FROM anker_limits_projects
        WHERE id IN (SELECT c->>'project' FROM jsonb_array_elements(p_claims) c)
        UNION ALL
        SELECT up.start, p.id, p.parent, up.depth + 1
        FROM anker_limits_projects p JOIN up ON p.id = up.parent
    )
    SELECT jsonb_object_agg(s.start, s.path) INTO v_paths
    FROM (SELECT start, jsonb_agg(id ORDER BY depth) AS path FROM up GROUP BY start) s;
    v_levels := ARRAY(
        SELECT DISTINCT l FROM jsonb_each(coalesce(v_paths, '{}')) p,
            jsonb_array_elements_text(p.value) l ORDER BY 1
    );
    v_resources := ARRAY(
        SELECT DISTINCT r FROM jsonb_array_elements(p_claims) c,
            jsonb_object_keys(c->'resources') r ORDER BY 1
    );
    INSERT INTO anker_limits_usage (project, resource, used, reserved, subtree)
        SELECT l, r, 0, 0, 0 FROM unnest(v_levels) l, unnest(v_resources) r
        ORDER BY l, r
        ON CONFLICT DO NOTHING;
    FOR v_row IN
        SELECT u.project, u.resource, u.used, u.subtree,
               coalesce(l.hard_limit, d.hard_limit) AS hard_limit
        FROM anker_limits_usage u
        LEFT JOIN anker_limits_limits l ON l.project = u.project AND l.resource = u.resource
        LEFT JOIN anker_limits_defaults d ON d.resource = u.resource
        WHERE u.project = ANY(v_levels) AND u.resource = ANY(v_resources)
        ORDER BY u.project, u.resource
        FOR UPDATE OF u
    LOOP
        v_keys := v_keys || (length(v_row.project) || ':' || v_row.project || v_row.resource);
        v_project := v_project || v_row.project;
        v_resource := v_resource || v_row.resource;
        v_used := v_used || v_row.used;
        v_reserved := v_reserved || 0::bigint;
        v_subtree := v_subtree || v_row.subtree;
        v_limit := v_limit || v_row.hard_limit;
        v_changed := v_changed || false;
    END LOOP;
    FOR v_claim IN SELECT c FROM jsonb_array_elements(p_claims) c LOOP
        IF v_done ? (v_claim->>'id') THEN
            v_outcomes := v_outcomes || (v_done -> (v_claim->>'id'));
            CONTINUE;
        END IF;
        v_fresh := false;
        IF v_claim->>'project' IS DISTINCT FROM v_last THEN
            v_last := v_claim->>'project';
            v_path := ARRAY(SELECT jsonb_array_elements_text(v_paths->v_last));
            v_depth := cardinality(v_path);
            v_path_json := to_jsonb(v_path);
            v_path_text := v_path_json::text;
            v_fresh := true;
        END IF;
        IF v_depth = 0 THEN
            v_outcomes := v_outcomes
                || jsonb_build_object('error', 'unknown-project', 'project', v_last);
            CONTINUE;
        END IF;
        IF v_claim->'resources' IS DISTINCT FROM v_last_resources THEN
            v_last_resources := v_claim->'resources';
            v_names_now := ARRAY(SELECT jsonb_object_keys(v_last_resources) ORDER BY 1);
            IF v_names_now IS DISTINCT FROM v_names THEN
                v_names := v_names_now;
                v_fresh := true;
            END IF;
        END IF;
        IF v_fresh THEN
            -- the counter of resource k (by name) on level i of the path, at
            -- v_idx[(k - 1) * depth + i], and the refusal of an unknown resource (the first
            -- by name, on the nearest level the model involves), found once per path and
            -- set of resources
            v_idx := '{}';
            v_unknown := NULL;
            FOREACH v_name IN ARRAY v_names LOOP
                FOR i IN 1..v_depth LOOP
                    v_at := array_position(
                        v_keys, length(v_path[i]) || ':' || v_path[i] || v_name
                    );
                    v_idx := v_idx || v_at;
                    IF v_unknown IS NULL AND (i = 1 OR NOT v_flat)
                            AND (v_at IS NULL OR v_limit[v_at] IS NULL) THEN
                        v_unknown := jsonb_build_object(
                            'error', 'unknown-resource', 'resource', v_name,
                            'project', v_path[i]
                        );
                    END IF;
                END LOOP;
            END LOOP;
        END IF;
        v_refusal := v_unknown;
        IF v_refusal IS NULL THEN
            <<over>>
            FOR k IN 1..cardinality(v_names) LOOP
                v_amount := (v_last_resources->>v_names[k])::bigint;
                CONTINUE WHEN v_amount = 0;
                FOR i IN 1..CASE WHEN v_flat THEN 1 ELSE v_depth END LOOP
                    v_at := v_idx[(k - 1) * v_depth + i];
                    v_current := CASE WHEN v_flat THEN v_used[v_at] ELSE v_subtree[v_at] END;
                    IF v_limit[v_at] <> -1 AND v_current + v_amount > v_limit[v_at] THEN
                        v_refusal := jsonb_build_object(
                            'error', 'over', 'resource', v_names[k], 'requested', v_amount,
                            'used', v_current, 'limit', v_limit[v_at], 'binding', v_path[i]
                        );
                        EXIT over;
                    END IF;
                END LOOP;
            END LOOP;
        END IF;
        IF v_refusal IS NOT NULL THEN
            v_outcomes := v_outcomes || v_refusal;
            CONTINUE;
        END IF;
        FOR k IN 1..cardinality(v_names) LOOP
            v_amount := (v_last_resources->>v_names[k])::bigint;
            CONTINUE WHEN v_amount = 0;
            FOR i IN 1..v_depth LOOP
                v_at := v_idx[(k - 1) * v_depth + i];
                CONTINUE WHEN v_at IS NULL;
                v_subtree[v_at] := v_subtree[v_at] + v_amount;
                IF i = 1 THEN
                    v_used[v_at] := v_used[v_at] + v_amount;
                    v_reserved[v_at] := v_reserved[v_at] + v_amount;
                END IF;
                v_changed[v_at] := true;
            END LOOP;
        END LOOP;
        v_expires_at := v_now + (v_claim->>'lease')::double precision;
        v_ids := v_ids || (v_claim->>'id');
        v_owners := v_owners || v_last;
        v_path_texts := v_path_texts || v_path_text;
        v_amount_texts := v_amount_texts || v_last_resources::text;
        v_expires := v_expires || v_expires_at;
        v_notes := v_notes || (v_claim->>'note');
        v_outcomes := v_outcomes || jsonb_build_object(
            'path', v_path_json, 'created', v_now, 'expires', v_expires_at
        );
    END LOOP;
    UPDATE anker_limits_usage u SET
        used = c.used, reserved = u.reserved + c.reserved, subtree = c.subtree
    FROM unnest(v_project, v_resource, v_used, v_reserved, v_subtree, v_changed)
        AS c(project, resource, used, reserved, subtree, changed)
    WHERE c.changed AND u.project = c.project AND u.resource = c.resource;
    INSERT INTO anker_limits_claims
        (id, project, path, resources, committed, created, expires, note)
    SELECT c.id, c.project, c.path, c.resources, false, v_now, c.expires, c.note
    FROM unnest(v_ids, v_owners, v_path_texts, v_amount_texts, v_expires, v_notes)
        AS c(id, project, path, resources, expires, note);
    RETURN to_jsonb(v_outcomes);
END;
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CLAIMS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS anker_limits_claims(jsonb, text, boolean)")
