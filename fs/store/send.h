/*
 * send: snapshots carried between stores as streams (stream.h), one way,
 * full or incremental, as ZFS and btrfs send them.  Used by fs/cli/send.c
 * and receive.c; uses kv.h, store.h and stream.h.
 *
 * A stream carries every table of the store (store_table_name()): the
 * records, side files and nodes of the tree, the history with its index,
 * labels and refs, each as the puts and deletes of its keys that turn the
 * base snapshot into the target (a full stream: every key of the target).
 * Receiving applies them in one write transaction and seals the result
 * as the target snapshot, under the sender's name, id and creation time
 * (kv_snapshot_seal()), so the receiver's snapshot is the sender's, table
 * by table and byte by byte.
 */
#ifndef CCCFS_FS_SEND_H
#define CCCFS_FS_SEND_H

#include <stdbool.h>
#include <stdint.h>

#include <cccfs/kv.h>

#include "stream.h"

/* The store's id, random and made on first use (a write transaction);
 * all zero when the store has none and cannot be written. */
int store_id_get(kv_env *env, uint8_t id[STREAM_ID_LEN]);

struct send_stat {
	uint64_t records;
	uint64_t bytes;
};

/*
 * Write snapshot snap to fd as a stream: every key of it, or with base
 * (not NULL) the changes from snapshot base, found with kv_table_diff()
 * so that the cost is the change.  0, -ENOENT (no such snapshot; msg
 * names it) or the error that stopped it.
 */
int store_send(kv_env *env, const char *snap, const char *base, int fd,
               struct send_stat *st, char *msg, size_t msglen);

struct recv_result {
	bool already; /* the target was here already: nothing changed */
	struct stream_header h;
	uint64_t records;
	char msg[400]; /* why it was refused */
};

/*
 * Apply the stream r reads to the store, in one transaction, and create
 * its target snapshot.  Everything is checked before the commit; on any
 * error nothing changes.  force: a live tree that changed since the base
 * (an incremental stream) or that is not empty (a full one) is replaced
 * by the target's rather than refused.  Errors, with res->msg saying why:
 * -EBADMSG (damaged or cut short), -EPROTONOSUPPORT (unknown format),
 * -ENOENT (the base snapshot is not here), -ESTALE (the live tree changed
 * since the base, or is not empty), -EEXIST (the target's name is taken
 * by another snapshot), or the engine's error.
 */
int store_receive(kv_env *env, struct stream_reader *r, bool force,
                  struct recv_result *res);

#endif
