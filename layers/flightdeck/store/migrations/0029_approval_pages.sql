-- `GET /v1/approvals` reads one keyset page ordered by (created_at, id), oldest first. The
-- dashboard's inbox asks for the open requests (`status = ANY('{pending,escalated}')`) every
-- few seconds, while a tenant's decided requests only accumulate. Both indexes end with the
-- keyset's id, so a page is read in order and ties need no sort:
--   a status filter       approvals_tenant_status_created (replaces 0001's approvals_tenant_status,
--                         same leading columns)
--   no status filter      approvals_tenant_created (the whole history, page by page)

DROP INDEX IF EXISTS approvals_tenant_status;
CREATE INDEX IF NOT EXISTS approvals_tenant_status_created
    ON approvals (tenant_id, status, created_at, id);
CREATE INDEX IF NOT EXISTS approvals_tenant_created ON approvals (tenant_id, created_at, id);
