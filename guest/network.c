#include "guest/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(int sock, const char *what)
{
    fprintf(stderr, "vmm-init: %s %s: %s\n", what, VMM_GUEST_INTERFACE, strerror(errno));
    close(sock);
    return -1;
}

static void set_ipv4(struct sockaddr *target, unsigned int address)
{
    struct sockaddr_in ipv4;
    memset(&ipv4, 0, sizeof(ipv4));
    ipv4.sin_family = AF_INET;
    ipv4.sin_addr.s_addr = address;
    memcpy(target, &ipv4, sizeof(ipv4));
}

int vmm_configure_network(const struct vmm_guest_network *network)
{
    if (!network->configured)
        return 0;
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return fail(-1, "socket for");
    struct ifreq request;
    memset(&request, 0, sizeof(request));
    strcpy(request.ifr_name, VMM_GUEST_INTERFACE);
    if (network->mtu != 0) {
        request.ifr_mtu = (int)network->mtu;
        if (ioctl(sock, SIOCSIFMTU, &request) != 0)
            return fail(sock, "SIOCSIFMTU");
    }
    set_ipv4(&request.ifr_addr, network->address);
    if (ioctl(sock, SIOCSIFADDR, &request) != 0)
        return fail(sock, "SIOCSIFADDR");
    unsigned int mask = network->prefix_length == 0 ? 0 : htonl(~0u << (32 - network->prefix_length));
    set_ipv4(&request.ifr_netmask, mask);
    if (ioctl(sock, SIOCSIFNETMASK, &request) != 0)
        return fail(sock, "SIOCSIFNETMASK");
    if (ioctl(sock, SIOCGIFFLAGS, &request) != 0)
        return fail(sock, "SIOCGIFFLAGS");
    request.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &request) != 0)
        return fail(sock, "SIOCSIFFLAGS");
    if (network->gateway != 0) {
        struct rtentry route;
        memset(&route, 0, sizeof(route));
        set_ipv4(&route.rt_dst, 0);
        set_ipv4(&route.rt_genmask, 0);
        set_ipv4(&route.rt_gateway, network->gateway);
        route.rt_flags = RTF_UP | RTF_GATEWAY;
        route.rt_dev = request.ifr_name;
        if (ioctl(sock, SIOCADDRT, &route) != 0)
            return fail(sock, "SIOCADDRT (default route) via");
    }
    close(sock);
    return 0;
}
