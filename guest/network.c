#define _GNU_SOURCE
#include "guest/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESOLVER_CONFIGURATION "/etc/resolv.conf"

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

static int show_failed(const char *what, const char *path)
{
    fprintf(stderr, "vmm-init: %s %s (for %s): %s\n", what, path, RESOLVER_CONFIGURATION, strerror(errno));
    return -1;
}

int vmm_show_name_servers(const struct vmm_guest_network *network)
{
    struct stat status;
    if (network->name_server_count == 0 || lstat(RESOLVER_CONFIGURATION, &status) != 0 || !S_ISREG(status.st_mode))
        return 0;
    char text[VMM_MAX_NAME_SERVERS * (sizeof("nameserver \n") + INET_ADDRSTRLEN)] = "";
    for (int index = 0; index < network->name_server_count; ++index) {
        struct in_addr address = { .s_addr = network->name_servers[index] };
        char printed[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &address, printed, sizeof(printed));
        strcat(text, "nameserver ");
        strcat(text, printed);
        strcat(text, "\n");
    }

    /* The file is made on a small tmpfs, mounted for a moment on a directory
     * of init's /tmp (a tmpfs too), bound over the tree's file and made
     * read-only there; the tmpfs's own mount then goes, so that nothing
     * but /etc/resolv.conf shows. */
    const char *staging = "/tmp/.vmm-resolver";
    const char *staged = "/tmp/.vmm-resolver/resolv.conf";
    if (mkdir(staging, 0700) != 0)
        return show_failed("mkdir", staging);
    int result = -1;
    if (mount("tmpfs", staging, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16k,mode=0755") != 0) {
        show_failed("mount tmpfs on", staging);
        rmdir(staging);
        return -1;
    }
    int file = open(staged, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    size_t const length = strlen(text);
    if (file < 0 || write(file, text, length) != (ssize_t)length)
        show_failed("write", staged);
    else if (mount(staged, RESOLVER_CONFIGURATION, NULL, MS_BIND, NULL) != 0)
        show_failed("bind-mount", staged);
    else if (mount(NULL, RESOLVER_CONFIGURATION, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
        show_failed("remount read-only", RESOLVER_CONFIGURATION);
    else
        result = 0;
    if (file >= 0)
        close(file);
    umount2(staging, MNT_DETACH);
    rmdir(staging);
    return result;
}
