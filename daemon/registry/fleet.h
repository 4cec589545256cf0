/* fleet: a gateway's link to its etcd registry (DESIGN §9 "Fleet"). Start-up reads the registry once,
 * blocking (fleet_init: the merged client list, every lease confirmed, or a clear refusal); then a thread of
 * its own keeps a watch on PREFIX/clients/ and applies its events to the list it keeps (a put: that one
 * record parsed and leased; a delete: that entry removed), or re-reads the registry (fleet_sync.h) when an
 * event cannot be applied alone, when the watch is canceled or compacted, on a reload and after an outage
 * (reconnecting with backoff, 1 s doubling to FLEET_BACKOFF_MAX_MS). Each new list (one per watch message)
 * is handed to the control thread through notify_fd (an eventfd in its loop): fleet_take. While etcd is
 * unreachable nothing is handed over, so the gateway keeps serving the clients and leases it has. Between
 * the watch's reads the same thread keeps this gateway's live sessions in etcd (fleet_sessions.h): the control
 * thread offers its set when it changes (fleet_offer_sessions), and the thread writes the difference.
 * Nothing here runs in the control loop for long or anywhere near the data plane. */
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "daemon/config.h"
#include "daemon/registry/fleet_sessions.h"
#include "daemon/registry/fleet_sync.h"

#define FLEET_BACKOFF_MIN_MS 1000u
#define FLEET_BACKOFF_MAX_MS 30000u

struct fleet_status {
	bool connected;          /* the last request reached etcd */
	uint64_t syncs;          /* registry reads applied (start-up included) */
	uint64_t sync_failures;  /* reads that failed (etcd unreachable, lost races) */
	uint64_t watch_events;   /* changes the watch reported (messages with events, cancels) */
	uint64_t incremental;    /* watch events applied without a full read (fleet_event_prepare) */
	uint64_t leases_created; /* leases this gateway wrote */
	uint64_t refused;        /* registry clients left out at the last read (logged) */
	int64_t revision;        /* etcd revision of the last read */
	size_t sessions;         /* this gateway's sessions as etcd holds them (PREFIX/sessions/GWHEX/) */
	uint64_t session_writes; /* session puts and deletes written */
	uint64_t session_failures; /* session writes or lease keepalives that failed (retried) */
	size_t clients;          /* clients of the last read: file + registry */
	char last_error[512];
};

struct fleet {
	const struct etcd_url *url;
	struct sl_prefix4 pool;
	struct sl_prefix6 pool6; /* len 0: an IPv4-only fleet */
	char path[SL_PATH_MAX];
	char ca_file[SL_PATH_MAX]; /* RegistryCAFile ("" : the system's CAs) */
	char cert_file[SL_PATH_MAX], key_file[SL_PATH_MAX]; /* RegistryCertFile / RegistryKeyFile ("": none) */
	char cache_path[SL_PATH_MAX]; /* StateDir/IFACE.registry (fleet_cache.h) */
	char pool_text[128];
	bool from_cache; /* started from the cache: read the registry before watching */
	int wake_fd;   /* the control thread -> registry thread: stop, new file clients */
	int notify_fd; /* the registry thread -> control thread: a new list is ready */
	pthread_t th;
	bool th_started;
	atomic_bool stop;
	pthread_mutex_t mu; /* guards what follows */
	struct sl_client_cfg *file; /* the config file's [Client]s */
	size_t n_file;
	bool file_changed;
	struct sl_client_cfg *ready; /* the newest list, not yet taken */
	size_t n_ready;
	struct fleet_session *sess_offer; /* the control thread's newest set of live sessions, not yet taken */
	size_t n_sess_offer;
	bool sess_offered;
	struct fleet_sessions sess; /* the registry thread's own (fleet_sessions.h) */
	struct sl_client_cfg *cur; /* the registry thread's own: the list last handed over, which events edit */
	size_t n_cur;
	unsigned cur_refused; /* registry clients the last full read left out */
	bool have_cur;
	struct fleet_status st;
};

/* Reads the registry of cfg (blocking, bounded) and returns the merged client list (malloc'd, every address
 * set) in *list. Refuses (-errno, e->msg) when the pool differs or a file client's fixed address is another
 * key's. When etcd does not answer, the list of the last good read cached in StateDir serves (with the file
 * clients it confirms) until etcd is back; without a cache that is a refusal too. curl_global_init must have
 * been called. */
int fleet_init(struct fleet *f, const struct sl_config *cfg, struct sl_client_cfg **list, size_t *n,
	       struct sl_err *e);
/* Starts the watch thread (after privileges are dropped: it needs none). */
int fleet_start(struct fleet *f, struct sl_err *e);
/* Control thread, when notify_fd is readable: the newest list (caller frees) or false. */
bool fleet_take(struct fleet *f, struct sl_client_cfg **list, size_t *n);
/* Control thread, on a reload: the file's new [Client]s (copied); the registry is read again. */
int fleet_set_file_clients(struct fleet *f, const struct sl_client_cfg *c, size_t n);
void fleet_status(struct fleet *f, struct fleet_status *out);
/* Control thread: the set of its live sessions (malloc'd; taken over, also on failure), when it changed. */
void fleet_offer_sessions(struct fleet *f, struct fleet_session *s, size_t n);
/* Stops the thread and frees everything; safe on a zeroed or partly set-up fleet. */
void fleet_close(struct fleet *f);
