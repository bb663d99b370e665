// Package mount describes the file system a box sees. A Plan is an ordered
// list of mounts (read-only binds of host paths, tmpfs, a fresh read-only
// /proc with its sensitive files masked, /dev with a few device nodes) on top
// of a skeleton: a directory on the host that holds every mount point,
// symlink and small file of the box (/etc/passwd naming the box user, copies
// of ld.so.cache and friends). Build it with a Builder or take Default.
//
// Why a skeleton instead of a fresh tmpfs root: the forkexec child keeps its
// host uid (root) until just before exec so that it can reach mount sources
// that only root may traverse, and that uid is not mapped in the box's user
// namespace, so the kernel refuses to let it create anything in a file
// system mounted inside that namespace (EOVERFLOW). The skeleton is made
// once, by the host, and shared by every plan with the same layout (it is
// named after a hash of its content and kept under /run/gosandbox/skel as a
// cache: each process using one registers as its user until it exits, and
// skeletons without a live user are pruned, a few recent ones kept); the child
// binds it onto itself, mounts the plan on top, pivots
// into it and makes it read-only. No host path outside the plan is visible.
//
// A Plan is compiled when it is built: each step carries NUL-terminated byte
// strings so sandbox/forkexec can walk it between fork and exec without
// allocating. Plan.Apply runs the same steps from ordinary Go code, for a
// process already in its own user and mount namespaces (a pooled container's
// init).
//
// Do not use this package to change the host's mounts: every Plan expects to
// run in a private mount namespace and makes its root private first.
package mount
