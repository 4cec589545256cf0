/* tunio: the data plane's TUN reads and writes, with the kernel's TCP segmentation offload when it has it.
 *
 * With IFF_VNET_HDR + TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) the kernel hands over a TCP flow's
 * data as super-packets of up to 64 KiB (one read instead of ~45) and leaves checksums for us to complete; here
 * they are cut back into MTU-sized segments — each one a complete, checksummed IPv4 or IPv6 packet (IPv6 with
 * TCP right after its fixed header; extension headers are not cut but dropped as bad_inner) placed where it gets
 * sealed — so what travels is exactly what a plain TUN would have given. Every write then carries a zeroed
 * virtio_net_hdr (no offload asked: our packets are complete). A plain packet is read in place with no copy;
 * a super-packet costs one copy per segment (its headers are rewritten anyway). Without the feature, or with
 * SLUICE_NO_OFFLOAD=1, this is a plain read/write. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DP_VNET_HDR_LEN 10    /* struct virtio_net_hdr */
#define DP_TUN_SUPER (65536 + 64) /* largest super-packet the kernel builds */
#define DP_IP6_HDR_LEN 40         /* the fixed IPv6 header */

struct dp_tun {
	int fd;
	bool vnet; /* every read and write starts with a virtio_net_hdr */
	bool tso;  /* TSO4 (and checksum offload) is on */
	bool tso6; /* TSO6 too (only with tso): IPv6 super-packets come, IPv6 segments are coalesced */
	uint8_t *sp; /* the super-packet being cut: DP_TUN_SUPER bytes, with TSO only */
	size_t sp_len, hdr_len, mss, next; /* next: offset of the next segment's payload */
	unsigned seg;                       /* number of the next segment */
	/* receive side, with TSO: consecutive segments of one TCP flow, coalesced into one write */
	uint8_t *cb;                 /* DP_VNET_HDR_LEN + 65535 bytes */
	size_t cb_len, cb_hdr, cb_mss; /* packet bytes pending (0: none), header length, first payload */
	unsigned cb_segs;
	uint32_t cb_seq;             /* sequence number the next segment must have */
	bool cb_open;                /* can take more: no PSH yet, no short segment yet */
};

/* SLUICE_NO_OFFLOAD is set (and not "0"): use none of the kernel's offloads, TUN or UDP. */
bool dp_offload_off(void);
/* The flags for tun_open (IFF_VNET_HDR, unless SLUICE_NO_OFFLOAD=1). */
int dp_tun_open_flags(void);
/* After tun_open(.., dp_tun_open_flags(), ..): asks for the offloads, logs once what it got. 0 or -ENOMEM. */
int dp_tun_init(struct dp_tun *t, int fd, bool vnet);
void dp_tun_free(struct dp_tun *t);

/* The next IPv4 or IPv6 packet from the TUN, written at dst (room bytes): its length; -1 when nothing is waiting
 * (EAGAIN); -2 for a packet to drop as bad_inner (an offload we did not ask for, or a malformed one, such as
 * an IPv6 super-packet with extension headers); -3 when
 * the read failed otherwise (errno kept: EBADFD once the link was deleted under us). A super-packet yields
 * one segment per call. */
ssize_t dp_tun_next(struct dp_tun *t, uint8_t *dst, size_t room);
/* Writes the packet at pkt (len bytes). pkt - DP_VNET_HDR_LEN must be writable scratch (the datagram header
 * in front of every inner packet): with vnet headers the zeroed header goes there. 0 or -1. */
int dp_tun_write(struct dp_tun *t, uint8_t *pkt, size_t len);
/* The receive path's write: with TSO, a TCP segment (IPv4; IPv6 too with TSO6) that continues the pending one
 * of its flow (same addresses, ports, ack, window, options; next sequence number; full-sized so far) is
 * appended to it, and the
 * train goes to the kernel as ONE GSO write when something else comes or at dp_tun_flush — so the local TCP
 * stack or the forwarding path handles one 64 KiB packet instead of ~45. Order is kept: anything that cannot
 * join flushes first. Without TSO it is dp_tun_write. Returns the number of packets the kernel refused. */
unsigned dp_tun_put(struct dp_tun *t, uint8_t *pkt, size_t len);
/* Writes what is pending (end of a receive batch). Returns the number of packets the kernel refused. */
unsigned dp_tun_flush(struct dp_tun *t);

/* Internals, exported for the unit test: cuts the TCP super-packet sp[0..len) (IPv4, or IPv6 without
 * extension headers; mss bytes of payload per segment) — the segment with number seg is written at dst;
 * returns its length, or -1 when sp is not a TCP packet we can cut. And the completion of a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM). */
ssize_t dp_tso_segment(const uint8_t *sp, size_t len, size_t mss, unsigned seg, uint8_t *dst, size_t room);
int dp_csum_complete(uint8_t *pkt, size_t len, size_t start, size_t offset);
/* RFC 1071 ones'-complement sum of buf folded to 16 bits (not inverted), added to `sum`. */
uint32_t dp_csum_add(uint32_t sum, const uint8_t *buf, size_t len);
/* Copies len bytes from src to dst (not overlapping) and returns dp_csum_add(sum, dst, len): one pass. */
uint32_t dp_csum_copy(uint8_t *dst, const uint8_t *src, size_t len, uint32_t sum);
uint16_t dp_csum_fold(uint32_t sum);
