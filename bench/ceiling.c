/*
 * bench/ceiling.c: what the kernel itself costs. Sends IPVS requests read from
 * an operations file (written beforehand by bench/guest.ts, outside the timed
 * part) as raw generic netlink: plain sockets, no libnl, no JavaScript, 512
 * messages per sendmsg with NLM_F_ACK only on the last one of each buffer
 * (the kernel acks the others only when they fail). Error ACKs are counted.
 *
 *   ceiling OPSFILE
 *
 * OPSFILE: "IPVSOPS1", u32 count, then count records of 16 bytes:
 *   u8 cmd (IPVS_CMD_*), u8 pad, u16 service port (host order),
 *   u32 service IPv4 address (network order), u32 destination address
 *   (network order), u16 destination port (host order), u16 weight.
 * cmd IPVS_CMD_GET_DEST means "read": one service dump, then one destination
 * dump per record (what listing the table costs with no parsing).
 * All services are tcp, scheduler rr; destinations masq.
 *
 * The timed part is encoding + sending + reading the ACKs (or dumps). Prints
 * one JSON line: {"ms":..,"messages":..,"errors":..,"firstErrno":..,"replies":..}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define BATCH 512
#define MSG_MAX 256

struct op {
	uint8_t cmd, pad;
	uint16_t sport;
	uint32_t saddr, daddr;
	uint16_t dport, weight;
};

static int fd;
static uint16_t family;
static uint32_t seq = 1;
static long errors, replies, first_errno;
static unsigned char rbuf[1 << 20];

static void die(const char *what) {
	fprintf(stderr, "ceiling: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Attribute writers: p points at the write position, returns the new one. */
static unsigned char *put(unsigned char *p, uint16_t type, const void *data, uint16_t len) {
	struct nlattr *a = (struct nlattr *)p;
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy(p + NLA_HDRLEN, data, len);
	unsigned total = NLA_ALIGN(NLA_HDRLEN + len);
	memset(p + NLA_HDRLEN + len, 0, total - NLA_HDRLEN - len);
	return p + total;
}
static unsigned char *put_u16(unsigned char *p, uint16_t type, uint16_t v) { return put(p, type, &v, 2); }
static unsigned char *put_u32(unsigned char *p, uint16_t type, uint32_t v) { return put(p, type, &v, 4); }
static unsigned char *nest_start(unsigned char *p, uint16_t type) {
	struct nlattr *a = (struct nlattr *)p;
	a->nla_type = type | NLA_F_NESTED;
	return p + NLA_HDRLEN;
}
static void nest_end(unsigned char *start, unsigned char *p) {
	((struct nlattr *)start)->nla_len = p - start;
}

static unsigned char *put_service(unsigned char *p, const struct op *o, int full) {
	unsigned char *n = p;
	p = nest_start(p, IPVS_CMD_ATTR_SERVICE);
	unsigned char addr[16] = {0};
	memcpy(addr, &o->saddr, 4);
	p = put_u16(p, IPVS_SVC_ATTR_AF, AF_INET);
	p = put_u16(p, IPVS_SVC_ATTR_PROTOCOL, 6 /* IPPROTO_TCP */);
	p = put(p, IPVS_SVC_ATTR_ADDR, addr, 16);
	p = put_u16(p, IPVS_SVC_ATTR_PORT, htons(o->sport));
	if (full) {
		struct ip_vs_flags flags = {0, ~0U};
		p = put(p, IPVS_SVC_ATTR_SCHED_NAME, "rr", 3);
		p = put(p, IPVS_SVC_ATTR_FLAGS, &flags, sizeof flags);
		p = put_u32(p, IPVS_SVC_ATTR_TIMEOUT, 0);
		p = put_u32(p, IPVS_SVC_ATTR_NETMASK, 0xffffffff);
	}
	nest_end(n, p);
	return p;
}

static unsigned char *put_dest(unsigned char *p, const struct op *o, int full) {
	unsigned char *n = p;
	p = nest_start(p, IPVS_CMD_ATTR_DEST);
	unsigned char addr[16] = {0};
	memcpy(addr, &o->daddr, 4);
	p = put(p, IPVS_DEST_ATTR_ADDR, addr, 16);
	p = put_u16(p, IPVS_DEST_ATTR_PORT, htons(o->dport));
	if (full) {
		p = put_u32(p, IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_MASQ);
		p = put_u32(p, IPVS_DEST_ATTR_WEIGHT, o->weight);
		p = put_u32(p, IPVS_DEST_ATTR_U_THRESH, 0);
		p = put_u32(p, IPVS_DEST_ATTR_L_THRESH, 0);
		p = put_u16(p, IPVS_DEST_ATTR_ADDR_FAMILY, AF_INET);
	}
	nest_end(n, p);
	return p;
}

/* Starts a message at p; returns the position after the genl header. */
static unsigned char *msg_start(unsigned char *p, uint16_t type, uint16_t flags, uint8_t cmd) {
	struct nlmsghdr *h = (struct nlmsghdr *)p;
	h->nlmsg_type = type;
	h->nlmsg_flags = flags;
	h->nlmsg_seq = seq++;
	h->nlmsg_pid = 0;
	struct genlmsghdr *g = (struct genlmsghdr *)(p + NLMSG_HDRLEN);
	g->cmd = cmd;
	g->version = IPVS_GENL_VERSION;
	g->reserved = 0;
	return p + NLMSG_HDRLEN + GENL_HDRLEN;
}
static void msg_end(unsigned char *start, unsigned char *p) {
	((struct nlmsghdr *)start)->nlmsg_len = p - start;
}

static void send_all(const void *buf, size_t len) {
	struct sockaddr_nl to = {.nl_family = AF_NETLINK};
	struct iovec iov = {(void *)buf, len};
	struct msghdr m = {.msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1};
	if (sendmsg(fd, &m, 0) != (ssize_t)len) die("sendmsg");
}

/* Reads replies until the ACK of last_seq (want_done = 0) or NLMSG_DONE
 * (want_done = 1); counts error ACKs. Returns the messages seen. */
static long read_until(uint32_t last_seq, int want_done) {
	long seen = 0;
	for (;;) {
		ssize_t n = recv(fd, rbuf, sizeof rbuf, 0);
		if (n < 0) {
			if (errno == EINTR) continue;
			die("recv");
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)rbuf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			seen++;
			replies++;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);
				if (e->error != 0) {
					errors++;
					if (!first_errno) first_errno = -e->error;
					if (want_done) return seen; /* a failed dump ends here */
				}
				if (!want_done && h->nlmsg_seq == last_seq) return seen;
			} else if (h->nlmsg_type == NLMSG_DONE) {
				if (want_done) return seen;
			}
		}
	}
}

static uint16_t resolve_family(void) {
	unsigned char buf[256];
	unsigned char *p = msg_start(buf, GENL_ID_CTRL, NLM_F_REQUEST, CTRL_CMD_GETFAMILY);
	((struct genlmsghdr *)(buf + NLMSG_HDRLEN))->version = 1;
	p = put(p, CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME, sizeof IPVS_GENL_NAME);
	msg_end(buf, p);
	send_all(buf, p - buf);
	ssize_t n = recv(fd, rbuf, sizeof rbuf, 0);
	if (n < 0) die("recv (family)");
	struct nlmsghdr *h = (struct nlmsghdr *)rbuf;
	if (!NLMSG_OK(h, n) || h->nlmsg_type == NLMSG_ERROR) {
		fprintf(stderr, "ceiling: generic netlink family IPVS not found (ip_vs not loaded?)\n");
		exit(1);
	}
	unsigned char *a = (unsigned char *)NLMSG_DATA(h) + GENL_HDRLEN;
	unsigned char *end = (unsigned char *)h + h->nlmsg_len;
	while (a + NLA_HDRLEN <= end) {
		struct nlattr *na = (struct nlattr *)a;
		if (na->nla_len < NLA_HDRLEN) break;
		if ((na->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID) return *(uint16_t *)(a + NLA_HDRLEN);
		a += NLA_ALIGN(na->nla_len);
	}
	fprintf(stderr, "ceiling: no family id in the controller's reply\n");
	exit(1);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: ceiling OPSFILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) die(argv[1]);
	char magic[8];
	uint32_t count;
	if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "IPVSOPS1", 8) || fread(&count, 4, 1, f) != 1) {
		fprintf(stderr, "ceiling: %s: not an operations file\n", argv[1]);
		return 1;
	}
	struct op *ops = malloc((size_t)count * sizeof *ops + 1);
	if (!ops || fread(ops, sizeof *ops, count, f) != count) die("reading operations");
	fclose(f);

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0) die("socket");
	int size = 32 << 20, one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
	struct sockaddr_nl local = {.nl_family = AF_NETLINK};
	if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
	family = resolve_family();

	unsigned char *buf = malloc(BATCH * MSG_MAX);
	if (!buf) die("malloc");
	long messages = 0;
	double start = now_ms();
	if (count > 0 && ops[0].cmd == IPVS_CMD_GET_DEST) {
		/* Listing: one service dump, then a destination dump per service. */
		unsigned char *p = msg_start(buf, family, NLM_F_REQUEST | NLM_F_DUMP, IPVS_CMD_GET_SERVICE);
		msg_end(buf, p);
		send_all(buf, p - buf);
		messages += read_until(0, 1);
		for (uint32_t i = 0; i < count; i++) {
			p = msg_start(buf, family, NLM_F_REQUEST | NLM_F_DUMP, IPVS_CMD_GET_DEST);
			p = put_service(p, &ops[i], 0);
			msg_end(buf, p);
			send_all(buf, p - buf);
			messages += read_until(0, 1);
		}
	} else {
		for (uint32_t i = 0; i < count; i += BATCH) {
			uint32_t end = i + BATCH < count ? i + BATCH : count;
			unsigned char *p = buf;
			for (uint32_t j = i; j < end; j++) {
				const struct op *o = &ops[j];
				uint16_t flags = NLM_F_REQUEST | (j == end - 1 ? NLM_F_ACK : 0);
				unsigned char *m = p;
				p = msg_start(p, family, flags, o->cmd);
				switch (o->cmd) {
				case IPVS_CMD_NEW_SERVICE: p = put_service(p, o, 1); break;
				case IPVS_CMD_DEL_SERVICE: p = put_service(p, o, 0); break;
				case IPVS_CMD_NEW_DEST:
				case IPVS_CMD_SET_DEST: p = put_service(p, o, 0); p = put_dest(p, o, 1); break;
				case IPVS_CMD_DEL_DEST: p = put_service(p, o, 0); p = put_dest(p, o, 0); break;
				default: fprintf(stderr, "ceiling: unknown command %d\n", o->cmd); return 1;
				}
				msg_end(m, p);
			}
			send_all(buf, p - buf);
			messages += end - i;
			read_until(seq - 1, 0);
		}
	}
	double ms = now_ms() - start;
	printf("{\"ms\":%.3f,\"messages\":%ld,\"errors\":%ld,\"firstErrno\":%ld,\"replies\":%ld}\n", ms, messages, errors,
	       first_errno, replies);
	return 0;
}
