"""Reports and dashboards as defined (definition), run as GROUP BY queries
(service), and the workflow analytics every workflow gets (flow)."""
