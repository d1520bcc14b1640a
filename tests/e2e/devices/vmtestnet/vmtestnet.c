// SPDX-License-Identifier: GPL-2.0
/*
 * vmtestnet: an Ethernet interface that takes every frame and drops it (as `dummy` does), planting
 * one bug on request, the fixture the network interface exerciser is proven on. Without bug= (or
 * with bug=none) it is correct. It builds unchanged from 5.10 to 7.x: alloc_netdev with a name
 * assign type, ether_setup, eth_hw_addr_random, ndo_get_stats64 returning void, skb_copy_bits and
 * dev_consume_skb_any are the same on every line.
 *
 *   insmod vmtestnet.ko [bug=stop_uaf|xmit_overflow]
 *
 * vmtestnet0 starts down. Bringing it up allocates its ring (what it keeps while up: frames and
 * bytes since up, the last frame's first 64 bytes), taking it down frees it. Each frame sent is
 * counted, its first 64 bytes copied through a header record into the ring, and dropped.
 * Statistics (ndo_get_stats64) count every frame since load.
 *
 * The objects the bugs write to come from caches of their own (see buggydev.c for why):
 *
 *   stop_uaf       ndo_stop stamps the time it went down into the ring it has just freed; the
 *                  next ndo_open allocates it again. Only link down then up reaches it. SLUB
 *                  debugging (slub_debug=P) finds the poison overwritten then: "BUG
 *                  vmtestnet_ring (...): Poison overwritten", "Freed in vmtestnet_stop" on 6.1,
 *                  "[Poison overwritten] ..." and "Object corrupt" on 7.x.
 *   xmit_overflow  ndo_start_xmit copies 8 bytes more than its 64-byte header record holds from
 *                  a frame of 72 bytes or more. Only a frame sent reaches it. slub_debug=Z finds
 *                  the right red zone overwritten at the kfree on the same path: "BUG
 *                  vmtestnet_header (...): Right Redzone overwritten" (6.1), "[Right Redzone
 *                  overwritten] ..." then "Object corrupt" (7.x).
 */
#include <linux/etherdevice.h>
#include <linux/init.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/netdevice.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>

#define VMTESTNET_HEADER	64	/* bytes of a frame kept */
#define VMTESTNET_OVERRUN	8	/* bytes xmit_overflow copies past its record: its red zone */

static char *bug = "none";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "bug to plant: none, stop_uaf, xmit_overflow");

enum vmtestnet_bug { VMTESTNET_NONE, VMTESTNET_STOP_UAF, VMTESTNET_XMIT_OVERFLOW };

static const char *const vmtestnet_bugs[] = {
	[VMTESTNET_NONE]		= "none",
	[VMTESTNET_STOP_UAF]		= "stop_uaf",
	[VMTESTNET_XMIT_OVERFLOW]	= "xmit_overflow",
};

static enum vmtestnet_bug vmtestnet_bug;

/* what the interface keeps while it is up */
struct vmtestnet_ring {
	unsigned long up_since;		/* jiffies */
	unsigned long down_at;		/* jiffies; stop_uaf writes it after the free */
	u64 frames;
	u64 bytes;
	u8 last[VMTESTNET_HEADER];
};

/* a frame's first bytes on their way to the ring */
struct vmtestnet_header {
	u8 bytes[VMTESTNET_HEADER];
};

struct vmtestnet_priv {
	spinlock_t lock;		/* guards everything below */
	struct vmtestnet_ring *ring;	/* NULL while down */
	u64 tx_packets;
	u64 tx_bytes;
	u64 tx_dropped;
};

static struct kmem_cache *vmtestnet_ring_cache;
static struct kmem_cache *vmtestnet_header_cache;
static struct net_device *vmtestnet_dev;

static int vmtestnet_open(struct net_device *dev)
{
	struct vmtestnet_priv *priv = netdev_priv(dev);
	struct vmtestnet_ring *ring = kmem_cache_zalloc(vmtestnet_ring_cache, GFP_KERNEL);

	if (!ring)
		return -ENOMEM;
	ring->up_since = jiffies;
	spin_lock_bh(&priv->lock);
	priv->ring = ring;
	spin_unlock_bh(&priv->lock);
	netif_start_queue(dev);
	return 0;
}

static int vmtestnet_stop(struct net_device *dev)
{
	struct vmtestnet_priv *priv = netdev_priv(dev);
	struct vmtestnet_ring *ring;

	netif_stop_queue(dev);
	spin_lock_bh(&priv->lock);
	ring = priv->ring;
	priv->ring = NULL;
	spin_unlock_bh(&priv->lock);
	if (vmtestnet_bug != VMTESTNET_STOP_UAF) {
		ring->down_at = jiffies;
		kmem_cache_free(vmtestnet_ring_cache, ring);
	} else {
		/* stop_uaf: the stamp after the free */
		kmem_cache_free(vmtestnet_ring_cache, ring);
		WRITE_ONCE(ring->down_at, jiffies);
	}
	return 0;
}

static netdev_tx_t vmtestnet_xmit(struct sk_buff *skb, struct net_device *dev)
{
	struct vmtestnet_priv *priv = netdev_priv(dev);
	unsigned int n = min_t(unsigned int, skb->len, VMTESTNET_HEADER);
	struct vmtestnet_header *header;

	if (vmtestnet_bug == VMTESTNET_XMIT_OVERFLOW)
		n = min_t(unsigned int, skb->len, VMTESTNET_HEADER + VMTESTNET_OVERRUN);
	header = kmem_cache_alloc(vmtestnet_header_cache, GFP_ATOMIC);
	spin_lock(&priv->lock);
	if (!header || !priv->ring || skb_copy_bits(skb, 0, header->bytes, n)) {
		priv->tx_dropped++;
	} else {
		priv->tx_packets++;
		priv->tx_bytes += skb->len;
		priv->ring->frames++;
		priv->ring->bytes += skb->len;
		memcpy(priv->ring->last, header->bytes, min_t(unsigned int, n, VMTESTNET_HEADER));
	}
	spin_unlock(&priv->lock);
	if (header)
		kmem_cache_free(vmtestnet_header_cache, header);
	dev_consume_skb_any(skb);
	return NETDEV_TX_OK;
}

static void vmtestnet_get_stats64(struct net_device *dev, struct rtnl_link_stats64 *stats)
{
	struct vmtestnet_priv *priv = netdev_priv(dev);

	spin_lock_bh(&priv->lock);
	stats->tx_packets = priv->tx_packets;
	stats->tx_bytes = priv->tx_bytes;
	stats->tx_dropped = priv->tx_dropped;
	spin_unlock_bh(&priv->lock);
}

static const struct net_device_ops vmtestnet_ops = {
	.ndo_open		= vmtestnet_open,
	.ndo_stop		= vmtestnet_stop,
	.ndo_start_xmit		= vmtestnet_xmit,
	.ndo_get_stats64	= vmtestnet_get_stats64,
	.ndo_set_mac_address	= eth_mac_addr,
	.ndo_validate_addr	= eth_validate_addr,
};

static void vmtestnet_setup(struct net_device *dev)
{
	struct vmtestnet_priv *priv = netdev_priv(dev);

	ether_setup(dev);
	dev->netdev_ops = &vmtestnet_ops;
	spin_lock_init(&priv->lock);
}

static void vmtestnet_free_caches(void)
{
	kmem_cache_destroy(vmtestnet_ring_cache);
	kmem_cache_destroy(vmtestnet_header_cache);
}

static int __init vmtestnet_init(void)
{
	int index, err;

	index = match_string(vmtestnet_bugs, ARRAY_SIZE(vmtestnet_bugs), bug && *bug ? bug : "none");
	if (index < 0) {
		pr_err("vmtestnet: unknown bug '%s'\n", bug);
		return -EINVAL;
	}
	vmtestnet_bug = index;

	vmtestnet_ring_cache = KMEM_CACHE(vmtestnet_ring, 0);
	vmtestnet_header_cache = KMEM_CACHE(vmtestnet_header, 0);
	err = -ENOMEM;
	if (!vmtestnet_ring_cache || !vmtestnet_header_cache)
		goto free;
	vmtestnet_dev = alloc_netdev(sizeof(struct vmtestnet_priv), "vmtestnet%d", NET_NAME_ENUM, vmtestnet_setup);
	if (!vmtestnet_dev)
		goto free;
	eth_hw_addr_random(vmtestnet_dev);
	err = register_netdev(vmtestnet_dev);
	if (err)
		goto free_dev;
	if (vmtestnet_bug != VMTESTNET_NONE)
		pr_info("vmtestnet: bug %s planted\n", vmtestnet_bugs[vmtestnet_bug]);
	return 0;

free_dev:
	free_netdev(vmtestnet_dev);
free:
	vmtestnet_free_caches();
	return err;
}

static void __exit vmtestnet_exit(void)
{
	unregister_netdev(vmtestnet_dev);	/* takes it down first when it is up */
	free_netdev(vmtestnet_dev);
	vmtestnet_free_caches();
}

module_init(vmtestnet_init);
module_exit(vmtestnet_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmtestnet: an Ethernet interface that drops what it is sent, with a bug planted on request (test fixture)");
