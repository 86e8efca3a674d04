/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every command and option of the CLI (opttab.h). CRIU's option names and meanings (criu(8));
 * where ferry cannot honour one, it says so here, and options.c refuses it.
 */
#include <string.h>
#include "cli/opttab.h"

const struct cli_cmd cli_cmds[] = {
	{ "dump", C_DUMP, "-t PID -D DIR [OPTION]...", "checkpoint a process tree into an image directory",
	  "Freezes the tree of PID (the process with its threads, children and grandchildren), saves its whole "
	  "state into DIR and then, by default, kills it: only once the image is complete. With -R the tree runs "
	  "on, with -s it stays stopped. A failed dump leaves the tree running as it was, and says which object "
	  "of which process it could not save.\n\n"
	  "With --prev-images-dir the dump stores only the pages written since that (pre-)dump, if its "
	  "dirty-page tracking is still there; otherwise it copies every page and warns that the tracking was "
	  "lost.\n\n"
	  "The log (dump.log) and the statistics (stats-dump.img, written once the tree runs again or is "
	  "killed) go into the work directory, -D unless -W says otherwise.\n\n"
	  "A worker process, in a process group of its own, does the work. SIGINT, SIGTERM or SIGHUP sent to "
	  "ferry (a terminal's Ctrl-C), or ferry's death, cancel the dump: the tree runs on as it was (exit "
	  "1). Once the image is whole and read back a cancel comes too late: the dump ends as asked, but "
	  "writes no statistics.", 0, 0 },
	{ "pre-dump", C_PRE, "-t PID -D DIR [OPTION]...", "copy a tree's memory while it runs on (incremental checkpoints)",
	  "Freezes the tree only to list its pages and start dirty-page tracking, then copies the pages while "
	  "the tree runs on. The next pre-dump or dump with --prev-images-dir pointing here stores only what was "
	  "written since. Tracking is on by default, as in CRIU; --no-track-mem turns it off, and the next dump "
	  "then copies every page (it warns, and its statistics say tracking_lost).\n\n"
	  "A pre-dump holds memory only: restore the dump made after it. It is cancelled as a dump is.", 0, 0 },
	{ "restore", C_RESTORE, "-D DIR [OPTION]... [--exec-cmd -- COMMAND [ARG]...]",
	  "restore a process tree from an image directory",
	  "Restores the tree saved in DIR (reading through its chain of parent images) at its PIDs and TIDs, "
	  "with everything the image holds, and lets it run. The whole image is verified before anything is "
	  "created; a failed restore leaves nothing alive.\n\n"
	  "Without -d, ferry stays the parent of the restored root, waits for it and exits with its status "
	  "(128+N when signal N killed it). With -d it returns once the tree runs. An encrypted image is "
	  "decoded as it is read, into memory only (--encrypt-key).\n\n"
	  "The log (restore.log), the statistics (stats-restore.img) and a relative --pidfile go into the work "
	  "directory, -D unless -W says otherwise, so an image may be read-only.\n\n"
	  "SIGINT, SIGTERM or SIGHUP cancel the restore until the tree runs (nothing is left alive, and ferry "
	  "then dies of the signal); after that they end ferry, not the tree.", 0, -1 },
	{ "page-server", C_PS, "--port PORT -D DIR [OPTION]...", "receive images from dumps on other hosts",
	  "Listens for a dump run with --page-server and stores the image it streams into DIR, keeping only a "
	  "whole image (docs/PROTOCOL.md). Connections are served concurrently; it exits once one image is "
	  "stored (or its dump failed), unless --forever, which serves until SIGINT, SIGTERM or SIGHUP.\n\n"
	  "It listens on 127.0.0.1 unless --address says otherwise, and refuses to start without a way to "
	  "authenticate its clients: --token-file, or --tls-cert/--tls-key with --tls-cacert (client "
	  "certificates), or --insecure to accept anyone.", 0, 0 },
	{ "image", C_IMAGE, "verify DIR | merge DIR OUT [--encrypt-key FILE]",
	  "verify an image (and its parent chain), or merge a chain into one",
	  "verify checks every file of the image in DIR and of every parent image it reads through: header, "
	  "checksum, the dump it belongs to and the process it is for, then what a restore checks. merge "
	  "writes into OUT one image that needs no parent, encoded as the original was. An encrypted image "
	  "needs its key (--encrypt-key).", 2, 3 },
	{ "export", C_EXPORT, "DIR FILE", "pack an image directory into one file",
	  "Writes the whole image of DIR into FILE, in the page server's framed format.", 2, 2 },
	{ "import", C_IMPORT, "FILE DIR", "unpack a file made by export into an image directory",
	  "Verifies FILE and writes the image it holds into DIR.", 2, 2 },
	{ "show", C_SHOW, "[--encrypt-key FILE] DIR|FILE", "print an image directory or file as JSON",
	  "Decodes every image file of DIR (or one FILE) and prints it as JSON, field names as in the image "
	  "schema (proto/*.proto). An encoded file is decoded as it is read; without the key an encrypted "
	  "one shows its header and encoding only.", 1, 1 },
	{ "serve", C_SERVE, "--listen ADDR:PORT [--token-file FILE] [OPTION]...", "receive a live migration (destination)",
	  "Listens for one `ferry migrate`, answers its pre-flight (versions, CPU and kernel features, vDSO, the "
	  "tree's PIDs, the files it has open or mapped), receives its images, restores the tree at its PIDs and "
	  "holds it until the source has killed its copy, then lets it run (docs/MIGRATION.md). Exits 0 once the "
	  "tree runs here; on any failure before that nothing of it is left here.\n\n"
	  "It refuses to start without a way to authenticate the source: --token-file (the same on both sides), "
	  "or --insecure to accept anyone.", 0, 0 },
	{ "migrate", C_MIGRATE, "-t PID --to ADDR:PORT [--mode MODE] [OPTION]...",
	  "move a running process tree to another host (source)",
	  "Moves the tree of PID to a `ferry serve` endpoint: a pre-flight first (nothing is frozen if the "
	  "destination cannot take the tree: each mismatch is named), then, with --mode precopy, rounds that copy "
	  "memory while the tree runs, then the final dump while it is frozen, and a two-phase hand-over: the "
	  "destination restores the tree and holds it, this copy is killed, the destination's runs. Any failure "
	  "before the kill leaves the tree running here, untouched, and nothing at the destination "
	  "(docs/MIGRATION.md).\n\n"
	  "The statistics (total time, downtime, bytes and pages per round) are printed at the end.", 0, 0 },
	{ "check", C_CHECK, "[OPTION]...", "probe the kernel and CPU for what ferry uses",
	  "Prints what this kernel and CPU offer (vDSO layout, PAGEMAP_SCAN, userfaultfd write-protect, clone3 "
	  "with set_tid, XSAVE...) and exits 0 when dump and restore can work here, 1 when they cannot.", 0, 0 },
};
const size_t cli_ncmds = sizeof(cli_cmds) / sizeof(cli_cmds[0]);

#define YES OPT_YES
#define NOOP OPT_NOOP
#define LATER OPT_LATER
#define LOGS (C_CRIU | C_PS)

const struct cli_opt cli_opts[] = {
	/* ---- dump and pre-dump ---- */
	{ O_TREE, "tree", 't', ARG_REQ, "PID", C_DUMPS, YES,
	  "the root of the process tree to checkpoint (required)", NULL },
	{ O_IMAGES_DIR, "images-dir", 'D', ARG_REQ, "DIR", C_DUMPS, YES,
	  "the image directory (created if missing; required)", NULL },
	{ O_IMAGES_DIR, "images-dir", 'D', ARG_REQ, "DIR", C_RESTORE, YES, "the image to restore (required)", NULL },
	{ O_FROM_EXPORT, "from-export", 0, ARG_REQ, "FILE", C_RESTORE, YES,
	  "restore the image an export file holds (ferry export), received into memory: no directory, nothing "
	  "imported (instead of -D; the log and statistics go into -W)", NULL },
	{ O_IMAGES_DIR, "images-dir", 'D', ARG_REQ, "DIR", C_PS, YES, "where received images are stored", NULL },
	{ O_LEAVE_RUNNING, "leave-running", 'R', ARG_NONE, NULL, C_DUMP, YES,
	  "let the tree run on after the dump (default: kill it)",
	  "The image then describes the tree as it was when frozen; what it does afterwards (files it writes, "
	  "connections it changes) may make a later restore differ." },
	{ O_LEAVE_RUNNING, "leave-running", 'R', ARG_NONE, NULL, C_PRE, NOOP,
	  "no effect: a pre-dump always lets the tree run on", NULL },
	{ O_LEAVE_STOPPED, "leave-stopped", 's', ARG_NONE, NULL, C_DUMP, YES,
	  "leave the tree stopped (SIGSTOP) after the dump instead of killing it", NULL },
	{ O_LEAVE_STOPPED, "leave-stopped", 's', ARG_NONE, NULL, C_PRE, NOOP,
	  "no effect: a pre-dump always lets the tree run on", NULL },
	{ O_TRACK_MEM, "track-mem", 0, ARG_NONE, NULL, C_DUMP, YES,
	  "keep dirty-page tracking after the dump, for a next dump with --prev-images-dir (with -R)", NULL },
	{ O_TRACK_MEM, "track-mem", 0, ARG_NONE, NULL, C_PRE, YES,
	  "track the pages written after this pre-dump (the default; --no-track-mem turns it off)",
	  "Without tracking, the next dump of the chain copies every present page again; it warns, and its "
	  "statistics say tracking_lost." },
	{ O_PREV_DIR, "prev-images-dir", 0, ARG_REQ, "DIR", C_DUMPS, YES,
	  "the previous (pre-)dump of the chain, relative to -D or absolute: store only pages written since", NULL },
	{ O_PREV_DIR, "prev-images-dir", 0, ARG_REQ, "DIR", C_RESTORE, NOOP,
	  "no effect: the image names its own parent (inventory.img), which restore reads through", NULL },
	{ O_TRACK_MEM, "track-mem", 0, ARG_NONE, NULL, C_RESTORE, NOOP, "no effect on restore (a dump option)", NULL },
	{ O_TIMEOUT, "timeout", 0, ARG_REQ, "SECONDS", C_DUMPS, YES,
	  "give up freezing the tree after SECONDS, letting it run on (default: no overall limit)",
	  "Every thread of every process must be seized by then: one that does not stop (an uninterruptible "
	  "wait, a vfork() whose child neither execs nor exits) is given up on at that moment, not after the "
	  "10 s (5 s for a vfork) ferry otherwise waits for one thread. The rest of the dump is not bounded." },
	{ O_PRE_DUMP_MODE, "pre-dump-mode", 0, ARG_REQ, "MODE", C_DUMPS, NOOP,
	  "splice or read: no effect, ferry chooses how it reads memory", NULL },
	{ O_PAGE_SERVER, "page-server", 0, ARG_NONE, NULL, C_DUMPS, YES,
	  "send the image to a page server (--address, --port) instead of writing it into -D",
	  "-D keeps the log and the image's metadata (not its pages), so chains work through page servers." },
	{ O_ADDRESS, "address", 0, ARG_REQ, "ADDR", C_DUMPS, YES, "the page server's host name or address", NULL },
	{ O_ADDRESS, "address", 0, ARG_REQ, "ADDR", C_PS, YES,
	  "the address to listen on (default 127.0.0.1: only this host; 0.0.0.0 or :: for every interface)", NULL },
	{ O_PORT, "port", 0, ARG_REQ, "PORT", C_DUMPS, YES, "the page server's TCP port (1 to 65535)", NULL },
	{ O_PORT, "port", 0, ARG_REQ, "PORT", C_PS, YES,
	  "the TCP port to listen on (0 to 65535; required): 0 takes a free port and prints it", NULL },
	{ O_TOKEN_FILE, "token-file", 0, ARG_REQ, "FILE", C_DUMPS | C_PS, YES,
	  "the pre-shared token that authenticates the session and seals every frame (docs/PROTOCOL.md)", NULL },
	{ O_INSECURE, "insecure", 0, ARG_NONE, NULL, C_PS, YES,
	  "serve clients that prove nothing (no --token-file, no client certificates)",
	  "Anyone who can connect can then write an image into DIR, and a restore of it runs what it holds: "
	  "only on a network you trust. The server warns when it starts so." },
	{ O_TLS, "tls", 0, ARG_NONE, NULL, C_DUMPS | C_PS | C_SERVE | C_MIGRATE, YES,
	  "use TLS; without --tls-cert/--tls-key/--tls-cacert, CRIU's default files under /etc/pki",
	  "The defaults are /etc/pki/criu/cert.pem, /etc/pki/criu/private/key.pem and /etc/pki/CA/cacert.pem." },
	{ O_TLS_CERT, "tls-cert", 0, ARG_REQ, "FILE", C_DUMPS | C_PS | C_SERVE | C_MIGRATE, YES, "our TLS certificate (PEM); implies --tls", NULL },
	{ O_TLS_KEY, "tls-key", 0, ARG_REQ, "FILE", C_DUMPS | C_PS | C_SERVE | C_MIGRATE, YES, "our TLS private key (PEM)", NULL },
	{ O_TLS_CACERT, "tls-cacert", 0, ARG_REQ, "FILE", C_DUMPS | C_PS | C_SERVE | C_MIGRATE, YES,
	  "the CA certificate (PEM) that must sign the peer's certificate", NULL },
	{ O_TLS_CACRL, "tls-cacrl", 0, ARG_REQ, "FILE", C_DUMPS | C_PS, LATER,
	  "a certificate revocation list: not supported yet", NULL },
	{ O_TLS_NO_CN_VERIFY, "tls-no-cn-verify", 0, ARG_NONE, NULL, C_DUMPS | C_PS, LATER,
	  "skip the certificate's name check: not supported yet", NULL },
	{ O_PS_SOCKET, "ps-socket", 0, ARG_REQ, "FD", C_DUMPS | C_PS, LATER,
	  "use an already connected socket: not supported yet", NULL },
	{ O_COMPRESS, "compress", 0, ARG_REQ, "ALG", C_DUMPS, YES, "compress page data: zstd, lz4 or none", NULL },
	{ O_ENCRYPT_KEY, "encrypt-key", 0, ARG_REQ, "FILE", C_DUMPS, YES,
	  "encrypt every image file with this key (32 raw bytes or 64 hex digits; AES-256-GCM)", NULL },
	{ O_ENCRYPT_KEY, "encrypt-key", 0, ARG_REQ, "FILE", C_RESTORE, YES,
	  "the key of an encrypted image: decoded as it is read, never written out plain",
	  "With a key every image file must be encrypted: a plain one is refused as substituted." },
	{ O_ENCRYPT_KEY, "encrypt-key", 0, ARG_REQ, "FILE", C_IMAGE | C_SHOW | C_CHECK, YES,
	  "the key of an encrypted image (and of its parents): decoded as it is read", NULL },

	/* ---- restore ---- */
	{ O_RESTORE_DETACHED, "restore-detached", 'd', ARG_NONE, NULL, C_RESTORE, YES,
	  "return once the tree runs (default: wait for the root and exit with its status)",
	  "A root with a parent-death signal (its own or one of its threads') is then made a child of ferry's "
	  "parent, as with --restore-sibling, so that the signal fires when that process dies, not when ferry "
	  "exits." },
	{ O_DAEMON, "daemon", 0, ARG_NONE, NULL, C_RESTORE, YES, "the same as --restore-detached", NULL },
	{ O_RESTORE_SIBLING, "restore-sibling", 'S', ARG_NONE, NULL, C_RESTORE, YES,
	  "make the root a child of ferry's parent, not of ferry (with -d)",
	  "Its parent then reaps it; a parent-death signal of the root fires when that parent dies." },
	{ O_LEAVE_STOPPED, "leave-stopped", 's', ARG_NONE, NULL, C_RESTORE, YES,
	  "leave the restored tree stopped (SIGSTOP); SIGCONT lets it run", NULL },
	{ O_PIDFILE, "pidfile", 0, ARG_REQ, "FILE", C_RESTORE, YES,
	  "write the restored root's PID into FILE once the tree runs (relative: into the work directory)", NULL },
	{ O_PIDFILE, "pidfile", 0, ARG_REQ, "FILE", C_DUMPS, NOOP,
	  "no effect on a dump (CRIU writes no pidfile for one)", NULL },
	{ O_PIDFILE, "pidfile", 0, ARG_REQ, "FILE", C_PS, YES, "write the server's PID into FILE once it listens", NULL },
	{ O_STATUS_FD, "status-fd", 0, ARG_REQ, "FD", C_RESTORE, YES,
	  "write a zero byte to FD and close it once the tree runs", NULL },
	{ O_STATUS_FD, "status-fd", 0, ARG_REQ, "FD", C_PS, YES,
	  "write a zero byte to FD and close it once the server listens", NULL },
	{ O_STATUS_FD, "status-fd", 0, ARG_REQ, "FD", C_DUMPS, NOOP,
	  "no effect on a dump (CRIU reports no status for one)", NULL },
	{ O_INHERIT_FD, "inherit-fd", 0, ARG_REQ, "fd[N]:KEY", C_RESTORE, YES,
	  "use our descriptor N for the image's file KEY (its path) instead of opening it (more than once)", NULL },
	{ O_EXEC_CMD, "exec-cmd", 0, ARG_NONE, NULL, C_RESTORE, YES,
	  "once the tree runs, execute COMMAND (the arguments after --), which inherits the restored root",
	  "Not with -d." },
	{ O_ROOT, "root", 'r', ARG_REQ, "DIR", C_RESTORE, YES,
	  "the root directory to restore under: only / (the current one); others need mount namespaces, "
	  "not supported yet", NULL },
	{ O_WEAK_SYSCTLS, "weak-sysctls", 0, ARG_NONE, NULL, C_CRIU, NOOP,
	  "no effect: ferry restores no sysctl", NULL },

	/* ---- what the tree may hold (dump) and how it comes back (restore) ---- */
	{ O_SHELL_JOB, "shell-job", 'j', ARG_NONE, NULL, C_DUMPS, YES,
	  "the tree shares the caller's terminal, session or process group (give it to restore too)", NULL },
	{ O_SHELL_JOB, "shell-job", 'j', ARG_NONE, NULL, C_RESTORE, YES,
	  "give the restored tree this terminal, session and process group (for a dump made with it)", NULL },
	{ O_TCP_ESTABLISHED, "tcp-established", 0, ARG_NONE, NULL, C_DUMPS, YES,
	  "save established TCP connections whose both ends are in the tree (TCP repair)",
	  "Queues, sequence numbers, window and options travel; a connection with an end outside the tree is "
	  "still refused by name (it needs the network locked: the containers work), as are half-closed ones. "
	  "On a tree without one it changes nothing." },
	{ O_TCP_ESTABLISHED, "tcp-established", 0, ARG_NONE, NULL, C_RESTORE, YES,
	  "restore the established TCP connections the image holds (by TCP repair)", NULL },
	{ O_TCP_CLOSE, "tcp-close", 0, ARG_NONE, NULL, C_DUMPS, YES,
	  "reset established TCP connections instead of refusing the dump (the tree sees them closed)", NULL },
	{ O_TCP_CLOSE, "tcp-close", 0, ARG_NONE, NULL, C_MIGRATE, YES,
	  "reset the tree's established TCP connections instead of refusing (its clients reconnect to the "
	  "destination)", NULL },
	{ O_TCP_CLOSE, "tcp-close", 0, ARG_NONE, NULL, C_RESTORE, NOOP,
	  "no effect: an image holds no open TCP connection, only closed ones", NULL },
	{ O_SKIP_IN_FLIGHT, "skip-in-flight", 0, ARG_NONE, NULL, C_DUMPS, YES,
	  "drop TCP connections not yet accepted on a listener instead of refusing the dump", NULL },
	{ O_SKIP_IN_FLIGHT, "skip-in-flight", 0, ARG_NONE, NULL, C_RESTORE, NOOP,
	  "no effect on restore (a dump option)", NULL },
	{ O_EXT_UNIX_SK, "ext-unix-sk", 'x', ARG_NONE, NULL, C_DUMPS, YES,
	  "allow unix sockets connected to a peer outside the tree",
	  "A datagram socket is reconnected to its peer by name at restore; a stream connection comes back "
	  "with its outside peer closed (what it had queued is kept). Without it such a socket refuses the "
	  "dump, naming it." },
	{ O_EXT_UNIX_SK, "ext-unix-sk", 'x', ARG_NONE, NULL, C_RESTORE, YES,
	  "reconnect unix sockets whose peer was outside the tree", NULL },
	{ O_FILE_LOCKS, "file-locks", 'l', ARG_NONE, NULL, C_DUMPS, YES,
	  "save flock, POSIX and OFD locks held by the tree (without it a held lock refuses the dump)", NULL },
	{ O_FILE_LOCKS, "file-locks", 'l', ARG_NONE, NULL, C_RESTORE, NOOP,
	  "no effect: the locks an image holds are always restored (a dump without --file-locks holds none)", NULL },
	{ O_LINK_REMAP, "link-remap", 0, ARG_NONE, NULL, C_DUMPS, YES,
	  "a file removed while open whose inode another name still links (none beside it): link it under a "
	  "hidden name to link it back at restore (without it such a file refuses the dump)",
	  "The hidden link (.ferry-remap-IMAGEID-FILEID, beside the removed name) is removed if the dump fails, "
	  "and by the first restore of the image that succeeds; an image never restored leaves it behind." },
	{ O_LINK_REMAP, "link-remap", 0, ARG_NONE, NULL, C_RESTORE, NOOP,
	  "no effect on restore (a dump option: the image says how each file comes back)", NULL },
	{ O_ALLOW_CHANGED_FILES, "allow-changed-files", 0, ARG_NONE, NULL, C_RESTORE | C_CHECK, YES,
	  "restore files reached by path even if their size, mode, inode or mount changed since the dump "
	  "(each with a warning; refused by default, naming the file)",
	  "A file of another type is refused even so." },
	{ O_GHOST_LIMIT, "ghost-limit", 0, ARG_REQ, "SIZE", C_DUMPS, YES,
	  "the largest deleted file whose contents go into the image (bytes, or with K, M, G, T)", NULL },
	{ O_GHOST_LIMIT, "ghost-limit", 0, ARG_REQ, "SIZE", C_RESTORE, NOOP, "no effect on restore (a dump option)", NULL },
	{ O_GHOST_FIEMAP, "ghost-fiemap", 0, ARG_NONE, NULL, C_DUMPS, YES,
	  "how the holes of deleted files are found (--no-ghost-fiemap too): accepted, they are always found "
	  "with SEEK_DATA/SEEK_HOLE and kept",
	  "Only how holes are found: the image holds the same data either way." },
	{ O_GHOST_FIEMAP, "ghost-fiemap", 0, ARG_NONE, NULL, C_RESTORE, NOOP, "no effect on restore (a dump option)", NULL },
	{ O_IRMAP_SCAN_PATH, "irmap-scan-path", 0, ARG_REQ, "DIR", C_DUMPS, YES,
	  "scan DIR first for a file watched by inotify or fanotify whose name, found by its handle, no longer "
	  "leads to it (more than once)",
	  "After the directories given, /etc, /var/spool, /var/log, /usr/share/dbus-1/system-services, "
	  "/var/lib/polkit-1 and /usr/lib/polkit-1 are scanned, as CRIU does; a watched file found nowhere "
	  "refuses the dump, naming it." },
	{ O_IRMAP_SCAN_PATH, "irmap-scan-path", 0, ARG_REQ, "DIR", C_RESTORE, NOOP, "no effect on restore (a dump option)", NULL },
	{ O_FORCE_IRMAP, "force-irmap", 0, ARG_NONE, NULL, C_DUMPS, YES,
	  "find watched files by scanning directories (--irmap-scan-path, then the defaults) before trying "
	  "their file handle", NULL },
	{ O_FORCE_IRMAP, "force-irmap", 0, ARG_NONE, NULL, C_RESTORE, NOOP,
	  "no effect on restore (a dump option: the image holds each watch's path)", NULL },
	{ O_EVASIVE_DEVICES, "evasive-devices", 0, ARG_NONE, NULL, C_DUMPS, YES,
	  "allow another path to the same device when a device file's own path is gone",
	  "A device node removed while open is made again under its name, with its type and number, with or "
	  "without this option." },
	{ O_EVASIVE_DEVICES, "evasive-devices", 0, ARG_NONE, NULL, C_RESTORE, NOOP,
	  "no effect on restore (a dump option)", NULL },
	{ O_NETWORK_LOCK, "network-lock", 0, ARG_REQ, "METHOD", C_CRIU, NOOP,
	  "iptables, nftables or skip: no effect, ferry saves no established connection, so nothing to lock", NULL },
	{ O_AUTO_DEDUP, "auto-dedup", 0, ARG_NONE, NULL, C_DUMPS, LATER,
	  "punch out of the parent image the pages this dump replaces: not supported yet", NULL },
	{ O_AUTO_DEDUP, "auto-dedup", 0, ARG_NONE, NULL, C_RESTORE | C_PS, LATER,
	  "punch pages out of the image as they are restored: not supported yet", NULL },
	{ O_CPU_CAP, "cpu-cap", 0, ARG_OPT, "CAPS", C_DUMPS, YES,
	  "no effect: the image always records the CPU's XSAVE features and CPUID flags", NULL },
	{ O_CPU_CAP, "cpu-cap", 0, ARG_OPT, "CAPS", C_RESTORE | C_CHECK, YES,
	  "what is checked of the CPU: fpu (XSAVE features), ins or cpu (CPUID instruction-set flags), all "
	  "(the default, also without a value), none",
	  "An image using a feature this CPU lacks is refused, naming the feature, before anything is created." },

	/* ---- logs, statistics, help ---- */
	{ O_HELP, "help", 'h', ARG_NONE, NULL, C_ALL, YES, "show this help and exit", NULL },
	{ O_VERBOSITY, "verbosity", 'v', ARG_OPT, "N", LOGS | C_CHECK, YES,
	  "terminal verbosity: 0 silent, 1 errors, 2 warnings (default), 3 info, 4 debug",
	  "-vN or --verbosity=N sets it; -v, -vv... raise it by one per v. The log file always gets everything "
	  "up to debug." },
	{ O_LOG_FILE, "log-file", 'o', ARG_REQ, "FILE", LOGS, YES,
	  "the debug log (default: dump.log, restore.log); relative names go into the work directory",
	  "For the page server the default is no log, or page-server.log in DIR with --daemon." },
	{ O_WORK_DIR, "work-dir", 'W', ARG_REQ, "DIR", C_CRIU, YES,
	  "put the log, the statistics and a relative --pidfile into DIR (created if missing), not into -D",
	  NULL },
	{ O_DISPLAY_STATS, "display-stats", 0, ARG_NONE, NULL, C_CRIU, YES,
	  "print the statistics at the end (they are always written to stats-dump.img or stats-restore.img)",
	  "The frozen time is measured once, from the freeze to the moment the tree runs again or is killed, "
	  "and is the same number in the printed statistics, --stats-json and stats-dump.img." },
	{ O_STATS_JSON, "stats-json", 0, ARG_REQ, "FILE", C_CRIU, YES,
	  "also write the statistics as JSON to FILE (- for stdout)",
	  "One object: \"operation\" (dump, pre-dump or restore), then every field that is set, named as in "
	  "ferry.proto's DumpStats and RestoreStats; times in microseconds, booleans as true or false." },
	{ O_CLOSE, "close", 0, ARG_REQ, "FD", C_CRIU | C_PS, YES,
	  "close file descriptor FD before doing anything (may be given more than once)", NULL },
	{ O_CONFIG, "config", 0, ARG_REQ, "FILE", C_CRIU | C_PS | C_CHECK, YES,
	  "read options from FILE first (the command line wins): one per line, without --",
	  "An argument follows the name after whitespace, in double quotes if it holds spaces (\\\" for a quote); "
	  "# starts a comment. As CRIU's, except that no default file is read." },
	{ O_NO_DEFAULT_CONFIG, "no-default-config", 0, ARG_NONE, NULL, C_CRIU | C_PS | C_CHECK, NOOP,
	  "no effect: ferry reads no configuration file", NULL },
	{ O_LOG_PID, "log-pid", 0, ARG_NONE, NULL, C_CRIU, NOOP,
	  "no effect: ferry writes one log per operation, each line naming the process it concerns", NULL },

	/* ---- containers and migration: later ---- */
	{ O_MANAGE_CGROUPS, "manage-cgroups", 0, ARG_OPT, "MODE", C_CRIU, YES,
	  "only ignore (cgroups are left alone, as without it); other modes need the containers work, "
	  "not supported yet", NULL },
	{ O_CGROUP_ROOT, "cgroup-root", 0, ARG_REQ, "[CTL:]DIR", C_CRIU, NOOP,
	  "no effect: it moves cgroups saved by --manage-cgroups, and ferry saves none", NULL },
	{ O_FREEZE_CGROUP, "freeze-cgroup", 0, ARG_REQ, "DIR", C_DUMPS, LATER,
	  "freeze the tree with a cgroup freezer: not supported yet (containers)", NULL },
	{ O_JOIN_NS, "join-ns", 'J', ARG_REQ, "NS:PATH", C_RESTORE, LATER,
	  "restore into an existing namespace: not supported yet (containers)", NULL },
	{ O_JOIN_NS, "join-ns", 'J', ARG_REQ, "NS:PATH", C_DUMPS, NOOP, "no effect on a dump (a restore option)", NULL },
	{ O_EMPTY_NS, "empty-ns", 0, ARG_REQ, "net", C_CRIU, LATER,
	  "restore into an empty network namespace: not supported yet (containers)", NULL },
	{ O_VETH_PAIR, "veth-pair", 0, ARG_REQ, "IN=OUT", C_RESTORE, LATER,
	  "names of veth devices: not supported yet (containers)", NULL },
	{ O_EXTERNAL, "external", 0, ARG_REQ, "TYPE[ID]:VAL", C_CRIU, YES,
	  "mnt[...] and dev[...]: no effect (ferry saves no mount namespace); file, tty, unix, veth, macvlan: "
	  "not supported yet", NULL },
	{ O_EXT_MOUNT_MAP, "ext-mount-map", 'M', ARG_REQ, "KEY:VAL", C_CRIU, NOOP,
	  "no effect: ferry saves no mount namespace (a tree in its own one is the containers work)", NULL },
	{ O_SKIP_MNT, "skip-mnt", 0, ARG_REQ, "DIR", C_CRIU, NOOP, "no effect: ferry saves no mount", NULL },
	{ O_ENABLE_FS, "enable-fs", 0, ARG_REQ, "FS", C_CRIU, NOOP, "no effect: ferry saves no mount", NULL },
	{ O_EXT_SHARING, "enable-external-sharing", 0, ARG_NONE, NULL, C_CRIU, NOOP,
	  "no effect: ferry saves no mount", NULL },
	{ O_EXT_MASTERS, "enable-external-masters", 0, ARG_NONE, NULL, C_CRIU, NOOP,
	  "no effect: ferry saves no mount", NULL },
	{ O_LSM_PROFILE, "lsm-profile", 0, ARG_REQ, "TYPE:NAME", C_RESTORE, LATER,
	  "restore under an AppArmor or SELinux profile: not supported yet (containers)", NULL },
	{ O_LAZY_PAGES, "lazy-pages", 0, ARG_NONE, NULL, C_CRIU | C_PS, LATER,
	  "fetch memory on demand: not supported yet (migration)", NULL },
	{ O_STREAM, "stream", 0, ARG_NONE, NULL, C_CRIU, LATER,
	  "images through criu-image-streamer: not supported yet (ferry streams to its page server)", NULL },
	{ O_ACTION_SCRIPT, "action-script", 0, ARG_REQ, "FILE", C_CRIU, YES,
	  "run FILE at each stage, CRTOOLS_SCRIPT_ACTION naming it (more than once: in order)",
	  "The stages: pre-dump (before the freeze), post-dump (the image is whole and the tree still frozen: "
	  "a failing script drops the dump and lets the tree run on), pre-restore, post-restore and pre-resume "
	  "(the tree is complete but not running: a failing script kills it), post-resume (it runs; a failure "
	  "is only reported). CRTOOLS_IMAGE_DIR is the image directory, CRTOOLS_INIT_PID the root of the tree. "
	  "network-lock, network-unlock and the namespace stages never come: ferry locks no network and "
	  "creates no namespace." },

	/* ---- page server ---- */
	{ O_FOREVER, "forever", 0, ARG_NONE, NULL, C_PS, YES, "serve one image after another, never exit", NULL },
	{ O_DAEMON, "daemon", 0, ARG_NONE, NULL, C_PS, YES,
	  "go to the background once listening (the command returns then)", NULL },

	/* ---- migration ---- */
	{ O_LISTEN, "listen", 0, ARG_REQ, "ADDR:PORT", C_SERVE, YES,
	  "the address and TCP port to listen on (port 0: a free one, printed)", NULL },
	{ O_TO, "to", 0, ARG_REQ, "ADDR:PORT", C_MIGRATE, YES, "the destination's `ferry serve` endpoint (required)", NULL },
	{ O_TREE, "tree", 't', ARG_REQ, "PID", C_MIGRATE, YES, "the root of the process tree to move (required)", NULL },
	{ O_MODE, "mode", 0, ARG_REQ, "MODE", C_MIGRATE, YES,
	  "cold (freeze, copy everything; the default) or precopy (copy memory while the tree runs first); "
	  "postcopy and hybrid are not supported yet",
	  "precopy: rounds copy what was written since the previous one, until the dirty set is small (1 MiB), "
	  "stops shrinking, or after 8 rounds or 30 s; the tree is frozen only for the last pages and the rest "
	  "of its state." },
	{ O_FORCE, "force", 0, ARG_NONE, NULL, C_MIGRATE, YES,
	  "go on despite pre-flight mismatches that can be overridden (CPU or kernel features, changed files)",
	  "A missing file, a PID taken at the destination, another vDSO layout or image format can never be "
	  "overridden." },
	{ O_TOKEN_FILE, "token-file", 0, ARG_REQ, "FILE", C_SERVE | C_MIGRATE, YES,
	  "the pre-shared token that authenticates the channel and seals every frame (docs/PROTOCOL.md)", NULL },
	{ O_INSECURE, "insecure", 0, ARG_NONE, NULL, C_SERVE, YES,
	  "accept a source that proves nothing (no --token-file, no client certificate)", NULL },
	{ O_IMAGES_DIR, "images-dir", 'D', ARG_REQ, "DIR", C_SERVE, YES,
	  "receive the images into DIR and keep them (default: a temporary directory, removed)", NULL },
	{ O_IMAGES_DIR, "images-dir", 'D', ARG_REQ, "DIR", C_MIGRATE, YES,
	  "keep each round's log and metadata in DIR (default: a temporary directory, removed)", NULL },
	{ O_STATS_JSON, "stats-json", 0, ARG_REQ, "FILE", C_MIGRATE, YES,
	  "also write the statistics as JSON to FILE (- for stdout)",
	  "Fields: mode, total_ms, downtime_ms (frozen here until running there), bytes_sent, rounds, dest_pid, "
	  "round_stats (per round: round, final, bytes, pages, ms)." },
	{ O_VERBOSITY, "verbosity", 'v', ARG_OPT, "N", C_SERVE | C_MIGRATE, YES,
	  "terminal verbosity: 0 silent, 1 errors, 2 warnings (default), 3 info, 4 debug", NULL },

	/* ---- check ---- */
	{ O_JSON, "json", 0, ARG_NONE, NULL, C_CHECK, YES, "print the probe as JSON", NULL },
	{ O_CHECK_IMAGE, "image", 0, ARG_REQ, "DIR", C_CHECK, YES,
	  "check that the image in DIR can be restored here: CPU, kernel features, vDSO, PIDs free, files the same",
	  "Every difference is printed, one a line; the exit status is 1 if there is any." },
	{ O_FEATURE, "feature", 0, ARG_REQ, "NAME", C_CHECK, YES,
	  "check one feature: exit 0 if present, 1 if not (list: the names)", NULL },
	{ O_EXTRA, "extra", 0, ARG_NONE, NULL, C_CHECK, NOOP, "no effect: ferry checks everything it uses", NULL },
	{ O_EXPERIMENTAL, "experimental", 0, ARG_NONE, NULL, C_CHECK, NOOP, "no effect: ferry checks everything it uses", NULL },
	{ O_CHECK_ALL, "all", 0, ARG_NONE, NULL, C_CHECK, NOOP, "no effect: ferry checks everything it uses", NULL },
};
const size_t cli_nopts = sizeof(cli_opts) / sizeof(cli_opts[0]);

const struct cli_cmd *cli_cmd_find(const char *name)
{
	for (size_t i = 0; i < cli_ncmds; i++)
		if (!strcmp(cli_cmds[i].name, name))
			return &cli_cmds[i];
	return NULL;
}

int cli_opt_negatable(const struct cli_opt *o)
{
	return o->arg == ARG_NONE && o->id != O_HELP && strncmp(o->name, "no-", 3) != 0;
}
