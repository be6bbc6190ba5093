/*
 * Host build of the device side of the protocol: bytes from stdin go to
 * tg_proto_feed(), replies go to stdout. A text banner line precedes the
 * BOOT frame (hosts must skip it). A RESET re-initialises the protocol, which
 * emits a new BOOT frame. Exits 0 at end of input.
 *
 *   gcc -std=c99 -Wall -Wextra -Werror -fsanitize=address,undefined -g \
 *       -Ifirmware/protocol firmware/protocol/tg_proto.c \
 *       firmware/tests/proto_host_app.c firmware/tests/proto_host_main.c -o proto_host
 */
#include "tg_proto.h"

#include <stdio.h>

static void write_stdout(const uint8_t *data, size_t len)
{
    if (len == 0) {
        fflush(stdout);
        return;
    }
    fwrite(data, 1, len, stdout);
}

static void boot(void)
{
    fputs("tinygen protocol host build: booting\n", stdout);
    tg_proto_init(write_stdout);
}

int main(void)
{
    int c;
    boot();
    while ((c = getchar()) != EOF) {
        if (tg_proto_feed((uint8_t)c) == TG_PROTO_EVT_RESET)
            boot();
    }
    fflush(stdout);
    return 0;
}
