"""A process kubelet: the one test double in the e2e tier.

It stands in for a kubelet and a container runtime on a machine that has neither.
It registers a Node, binds pending pods to it (there is no scheduler), runs each
container's command as a local process with the pod's environment, reports phase,
exit code and termination message to the pod status, and honours deletion.

Invariants:
- The state directory is the source of truth for what runs: every container has
  a directory holding its pid, start time and, once it ends, its exit code
  (written by the wrapper, not by the kubelet). So the kubelet can stop and start
  again without losing track of running containers, and never starts one twice.
- Each container runs in a private mount namespace, where its own file is bound
  over its terminationMessagePath; concurrent pods never see each other's message.
  Volumes are bound the same way. A bind mount needs a mount point, so one missing
  on the host is created there, empty (for example /dev/termination-log).
- Stopping the kubelet leaves containers running; e2e/cluster/down stops them by
  the PIDs in the state directory.
"""
