// Package daemon starts, holds, locates and stops the per-user podbox daemon:
// the processes behind `podbox daemon`, which own every pod of the user and
// serve the API on a unix socket and on loopback HTTPS.
//
// # Process topology
//
// `podbox daemon` becomes three processes, each the same binary run again as
// `podbox daemon` (Command) and told its role by its environment:
//
//	podbox daemon               host namespaces: checks the host, then waits
//	└─ holder                   podbox's user and mount namespace (rootless.Enter)
//	   └─ supervisor            same namespaces: pods and API server
//
// The outer process checks what it can before entering (private runtime
// directory, runsc of the right version), exports the directory layout
// (dirs.Dirs.Export: inside the user namespace the uid reads 0 and the
// per-user defaults cannot be derived again), and re-executes itself in a new
// user and mount namespace. It forwards SIGTERM and SIGINT and ends with its
// child's exit code.
//
// The first process inside is the namespace holder (hold). It takes the
// per-user lock (a second daemon of the user stops there) and writes its pid
// into the lock file for Stop; makes the mounts private; runs the log server,
// which writes the containers' stdout and stderr to their CRI logs; and runs
// the supervisor as its child.
//
// The supervisor (serve) opens the image and object stores, runs the pods
// (supervisor.New), the static pods of the manifest directory and the API
// server (apiserver) until SIGTERM or SIGINT, and then stops every sandbox.
// The API server answers on the socket (podbox's CLI) and on an HTTPS
// endpoint for kubectl and other clients (https.go): https://127.0.0.1:PORT,
// the port picked on the first start and kept, only the user's client
// certificate accepted (package pki; both under dirs.Dirs.HTTPS). Should the
// port be taken, the supervisor says so in its log and serves the socket
// alone.
//
// # Surviving a supervisor crash
//
// The holder runs little code (a loop and the log server); the supervisor
// runs everything else. When the supervisor dies unexpectedly (a panic, kill -9),
// what its pods need lives on outside it: the namespaces, held by the holder,
// and with them the bind mounts that pin the pods' network namespaces; the
// sandboxes, which runsc runs detached, as nobody's children; and the read
// ends of the containers' output pipes, which the supervisor handed to the
// log server, so no container gets EPIPE and no log line is lost. The holder
// then starts a new supervisor with adoption on (supervisor.Options.Adopt),
// which takes over the running sandboxes from their records instead of
// restarting them. It waits a second before the first restart, doubling up to
// 30 s while restarts keep failing, and back to a second once a supervisor
// has lived a minute.
//
// A signalled holder (SIGTERM from Stop or a service manager, ^C in a
// terminal) passes the signal to the supervisor, which stops its pods and
// exits; then the holder exits, releasing the lock. The pods stay defined:
// the next daemon starts them again.
//
// # Locating and starting
//
// A command that needs the daemon calls Ensure: if nothing answers on the
// socket, it starts `podbox daemon` in the background, in a session of its
// own, its output appended to the daemon log, and waits until the socket
// answers. Ping only looks. Both dial through dirs.DialSocket, which refuses a
// socket whose directory or serving process is not the user's own.
package daemon
