/*
 * test_connguard.c - metrics/connguard.h, the metrics server's connection
 * guard: an address at its limit makes room by closing its oldest
 * connection without a complete request (whatever its port), then its
 * longest idle one, then - all of them being answered - the one answering
 * longest; other addresses are left alone; a full server makes room over
 * all addresses alike; request headers late past their deadline (from the
 * opening, or from the previous response) get the connection closed,
 * while a connection being answered has none until its answer is queued,
 * then one that grows with the answer's size; slots are reused.
 *
 * Connections are socketpairs: the guard gets one end, the test reads the
 * other, where a shutdown by the guard shows as end of file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/clock.h"
#include "metrics/connguard.h"

struct peer {
	int server; /* the end the guard is given (the server's) */
	int client; /* the end the test reads */
	struct connguard_conn *c;
};

static struct sockaddr_in ip(const char *addr, uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	assert_int_equal(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	return sa;
}

static struct peer open_from(struct connguard *g, const char *addr,
			     uint16_t port)
{
	struct sockaddr_in sa = ip(addr, port);
	struct peer p;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	p.server = sv[0];
	p.client = sv[1];
	p.c = connguard_open(g, p.server, (const struct sockaddr *)&sa,
			     sizeof(sa));
	return p;
}

/* True once the guard shut the server's end down (within wait_ms). */
static bool is_cut(const struct peer *p, int wait_ms)
{
	struct pollfd pfd = { .fd = p->client, .events = POLLIN };
	char b;

	if (poll(&pfd, 1, wait_ms) != 1)
		return false;
	return recv(p->client, &b, 1, MSG_DONTWAIT) == 0;
}

/* What the server does: close it, telling the guard first. */
static void server_close(struct connguard *g, struct peer *p)
{
	connguard_close(g, p->c);
	close(p->server);
	close(p->client);
	p->c = NULL;
}

/* Answers have no deadline. */
static struct connguard *guard(unsigned total, unsigned per_addr,
			       double header_timeout, double idle_timeout)
{
	struct connguard_limits lim = { .total = total, .per_addr = per_addr,
					.header_timeout = header_timeout,
					.idle_timeout = idle_timeout };
	return connguard_create(&lim);
}

static void test_full_address_closes_its_oldest_waiting(void **state)
{
	struct connguard *g = guard(8, 3, 60, 60);
	struct connguard_stats st;
	struct peer a[5], b;

	(void)state;
	for (int i = 0; i < 3; i++)
		a[i] = open_from(g, "127.0.0.1", (uint16_t)(40000 + i));
	b = open_from(g, "127.0.0.2", 40000);
	for (int i = 0; i < 3; i++) {
		assert_non_null(a[i].c);
		assert_false(is_cut(&a[i], 0));
	}
	/* a fourth from the same address, another port: the first goes */
	a[3] = open_from(g, "127.0.0.1", 40003);
	assert_non_null(a[3].c);
	assert_true(is_cut(&a[0], 0));
	assert_false(is_cut(&a[1], 0));
	assert_false(is_cut(&a[2], 0));
	assert_false(is_cut(&a[3], 0));
	assert_false(is_cut(&b, 0));
	/* the one shut down counts no more, even before the server closed
	 * it: the next newcomer makes room with the second */
	a[4] = open_from(g, "127.0.0.1", 40004);
	assert_non_null(a[4].c);
	assert_true(is_cut(&a[1], 0));
	assert_false(is_cut(&a[2], 0));
	assert_false(is_cut(&b, 0));
	connguard_stats(g, &st);
	assert_int_equal(st.evicted, 2);
	assert_int_equal(st.refused, 0);
	assert_int_equal(st.timed_out, 0);
	for (int i = 0; i < 5; i++)
		server_close(g, &a[i]);
	server_close(g, &b);
	connguard_destroy(g);
}

static void test_busy_kept_idle_after_waiting(void **state)
{
	struct connguard *g = guard(8, 3, 60, 60);
	struct connguard_stats st;
	struct peer a[6];

	(void)state;
	a[0] = open_from(g, "10.0.0.1", 1);
	connguard_request(g, a[0].c);  /* being answered */
	a[1] = open_from(g, "10.0.0.1", 2);
	connguard_request(g, a[1].c);
	connguard_answered(g, a[1].c); /* idle after a response */
	a[2] = open_from(g, "10.0.0.1", 3);

	/* a waiting one goes before an idle one, even a younger one */
	a[3] = open_from(g, "10.0.0.1", 4);
	assert_non_null(a[3].c);
	assert_true(is_cut(&a[2], 0));
	assert_false(is_cut(&a[0], 0));
	assert_false(is_cut(&a[1], 0));
	server_close(g, &a[2]);

	/* none waiting but the newcomer: the idle one goes */
	connguard_request(g, a[3].c);
	a[4] = open_from(g, "10.0.0.1", 5);
	assert_non_null(a[4].c);
	assert_true(is_cut(&a[1], 0));
	assert_false(is_cut(&a[0], 0));
	assert_false(is_cut(&a[3], 0));
	server_close(g, &a[1]);

	/* all busy: the one answering longest goes, not the newcomer (a
	 * client that holds its connections by reading their answers slowly
	 * locked its address out; see connguard.h) */
	connguard_request(g, a[4].c);
	a[5] = open_from(g, "10.0.0.1", 6);
	assert_non_null(a[5].c);
	assert_true(is_cut(&a[0], 0));
	assert_false(is_cut(&a[3], 0));
	assert_false(is_cut(&a[4], 0));
	assert_false(is_cut(&a[5], 0));
	connguard_stats(g, &st);
	assert_int_equal(st.evicted, 3);
	assert_int_equal(st.refused, 0);
	/* a refused one's handle (NULL) is ignored */
	connguard_request(g, NULL);
	connguard_sending(g, NULL, 1);
	connguard_answered(g, NULL);
	server_close(g, &a[5]);
	server_close(g, &a[0]);
	server_close(g, &a[3]);
	server_close(g, &a[4]);
	connguard_destroy(g);
}

static void test_full_server_makes_room_anywhere(void **state)
{
	struct connguard *g = guard(4, 3, 60, 60);
	struct connguard_stats st;
	struct peer a1, a2, b1, b2, c1;

	(void)state;
	a1 = open_from(g, "127.0.0.1", 1);
	connguard_request(g, a1.c);
	b1 = open_from(g, "127.0.0.2", 1);
	a2 = open_from(g, "127.0.0.1", 2);
	/* the fourth fills the server: the oldest waiting one of any
	 * address goes (a1 is busy), so that the next one gets in */
	b2 = open_from(g, "127.0.0.2", 2);
	assert_non_null(b2.c);
	assert_true(is_cut(&b1, 0));
	assert_false(is_cut(&a1, 0));
	assert_false(is_cut(&a2, 0));
	assert_false(is_cut(&b2, 0));
	server_close(g, &b1);

	/* full again with everyone else busy: the one answering longest
	 * goes, of any address, so that the next one gets in too */
	connguard_request(g, a2.c);
	connguard_request(g, b2.c);
	c1 = open_from(g, "127.0.0.3", 1);
	assert_non_null(c1.c);
	assert_false(is_cut(&c1, 0));
	assert_true(is_cut(&a1, 0));
	assert_false(is_cut(&a2, 0));
	assert_false(is_cut(&b2, 0));
	connguard_stats(g, &st);
	assert_int_equal(st.evicted, 2);
	assert_int_equal(st.refused, 0);
	server_close(g, &a1);
	server_close(g, &a2);
	server_close(g, &b2);
	server_close(g, &c1);
	connguard_destroy(g);
}

static void test_late_headers_are_cut_off(void **state)
{
	struct connguard *g = guard(8, 8, 0.2, 1.0);
	struct connguard_stats st;
	struct peer waiting, busy, kept;
	double t0, t1, t;

	(void)state;
	t0 = clock_mono_s();
	waiting = open_from(g, "127.0.0.1", 1);
	busy = open_from(g, "127.0.0.1", 2);
	connguard_request(g, busy.c);
	kept = open_from(g, "127.0.0.1", 3);
	connguard_request(g, kept.c);
	connguard_answered(g, kept.c);
	t1 = clock_mono_s();

	assert_true(is_cut(&waiting, 3000));
	t = clock_mono_s() - t0;
	assert_true(t >= 0.19);
	assert_false(is_cut(&kept, 0));
	/* the kept-alive one gets the idle allowance from its response */
	assert_true(is_cut(&kept, 3000));
	t = clock_mono_s() - t1;
	assert_true(t >= 0.99);
	/* one being answered has no header deadline */
	assert_false(is_cut(&busy, 300));
	connguard_stats(g, &st);
	assert_int_equal(st.timed_out, 2);
	assert_int_equal(st.evicted, 0);
	server_close(g, &waiting);
	server_close(g, &busy);
	server_close(g, &kept);
	connguard_destroy(g);
}

static void test_late_answers_are_cut_off(void **state)
{
	/* 0.2 s for any answer, and 0.1 s more per 100 bytes */
	struct connguard_limits lim = { .total = 8, .per_addr = 8,
					.header_timeout = 60, .idle_timeout = 60,
					.send_timeout = 0.2, .send_rate = 1000 };
	struct connguard *g = connguard_create(&lim);
	struct connguard_stats st;
	struct peer small, large, making, done;
	double t0, t;

	(void)state;
	small = open_from(g, "127.0.0.1", 1);
	large = open_from(g, "127.0.0.1", 2);
	making = open_from(g, "127.0.0.1", 3);
	done = open_from(g, "127.0.0.1", 4);
	for (int i = 0; i < 2; i++) {
		connguard_request(g, i ? large.c : small.c);
		connguard_sending(g, i ? large.c : small.c, i ? 500 : 0);
	}
	connguard_request(g, making.c); /* its handler is still at work */
	connguard_request(g, done.c);
	connguard_sending(g, done.c, 0);
	connguard_answered(g, done.c); /* sent in time: the idle allowance */
	t0 = clock_mono_s();

	assert_true(is_cut(&small, 3000));
	t = clock_mono_s() - t0;
	assert_true(t >= 0.19 && t < 0.6);
	assert_false(is_cut(&large, 0));
	assert_true(is_cut(&large, 3000));
	t = clock_mono_s() - t0;
	assert_true(t >= 0.69);
	/* an answer not yet queued, and one sent, have no answer deadline */
	assert_false(is_cut(&making, 300));
	assert_false(is_cut(&done, 0));
	connguard_stats(g, &st);
	assert_int_equal(st.send_timed_out, 2);
	assert_int_equal(st.timed_out, 0);
	server_close(g, &small);
	server_close(g, &large);
	server_close(g, &making);
	server_close(g, &done);
	connguard_destroy(g);
}

static void test_closed_slots_are_reused(void **state)
{
	struct connguard *g = guard(2, 2, 60, 60);
	struct connguard_stats st;

	(void)state;
	for (int i = 0; i < 200; i++) {
		struct peer p = open_from(g, "127.0.0.1", (uint16_t)i);
		assert_non_null(p.c);
		assert_false(is_cut(&p, 0));
		server_close(g, &p);
	}
	connguard_stats(g, &st);
	assert_int_equal(st.evicted + st.refused + st.timed_out, 0);
	connguard_destroy(g);
	connguard_destroy(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_address_closes_its_oldest_waiting),
		cmocka_unit_test(test_busy_kept_idle_after_waiting),
		cmocka_unit_test(test_full_server_makes_room_anywhere),
		cmocka_unit_test(test_late_headers_are_cut_off),
		cmocka_unit_test(test_late_answers_are_cut_off),
		cmocka_unit_test(test_closed_slots_are_reused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
