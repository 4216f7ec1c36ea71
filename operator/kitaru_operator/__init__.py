"""The Kitaru operator: FlowVersion, Flow and Execution resources, runs as Job pods.

Invariants kept here (see DESIGN.md section 3):

- kopf handlers are thin: they read the objects, call a pure decision function, and
  apply what it returns. Decisions are tested without a cluster.
- Run pods never call the Kubernetes API; the operator learns outcomes from the pod's
  termination message and the store.
- Status never holds payloads, only a bounded index.
- Every action is idempotent: Job names are deterministic (``<execution>-r<n>``), so a
  repeated reconcile cannot create a second run.
"""
