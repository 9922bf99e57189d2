"""The schema's fields, a module per group (every module here but `base`): each gives `GROUP` (its
name), `ORDER` (where its root fields come), `query(types)` and `mutation(types)` (its root fields),
`PAGES` (its lists of pages and their default page sizes), and `settings()` and `ports(settings)`
(its group's ports from the environment, as the group's own function builds them)."""
