//! *Host and containers*: CPU, memory, disk and network of the Docker host from
//! node-exporter, then CPU, memory and network per container from cAdvisor, filtered to
//! this stack's compose project by the containers' compose labels; each row only while
//! `[components]` runs its exporter (without both, there is no host dashboard). The host network panel
//! exists only when node-exporter runs in the host's network namespace
//! (`compose::node_exporter_on_host`); otherwise it would show one container's traffic.

use super::Ctx;
use super::json::{Board, Dashboard, PanelSpec, prom, quote, rate};
use crate::targets::grafana::metrics::{cadvisor, labels, node};

/// Filesystems that are not disks.
const PSEUDO_FS: &str = "tmpfs|overlay|squashfs|ramfs|nsfs|devtmpfs|autofs|fuse.lxcfs";
/// Network devices that are Docker's own plumbing or loopback.
const VIRTUAL_NET: &str = "lo|veth.*|docker.*|br-.*";

pub(super) fn dashboard(ctx: &Ctx<'_>) -> Dashboard {
    let mut b = ctx.board(
        "host",
        "host and containers",
        "The Docker host (node-exporter) and this stack's containers (cAdvisor).",
    );
    if ctx.stack.components.node_exporter {
        host_panels(ctx, &mut b);
    }
    if ctx.stack.components.cadvisor {
        container_panels(ctx, &mut b);
    }
    b.finish()
}

/// The host row (node-exporter).
fn host_panels(ctx: &Ctx<'_>, b: &mut Board) {
    let fs = format!("fstype!~{}", quote(PSEUDO_FS));
    let net = format!("device!~{}", quote(VIRTUAL_NET));
    b.row("Host");
    b.panel(
        PanelSpec::new("timeseries", "CPU busy", 8, 8)
            .describe("Share of CPU time not idle, all cores.")
            .target(prom(
                format!(
                    "1 - avg(rate({}{{mode=\"idle\"}}[$__rate_interval]))",
                    node::CPU_SECONDS
                ),
                "busy",
            ))
            .unit("percentunit")
            .range(Some(0.0), Some(1.0)),
    );
    b.panel(
        PanelSpec::new("timeseries", "Memory", 8, 8)
            .target(prom(
                format!("{} - {}", node::MEM_TOTAL, node::MEM_AVAILABLE),
                "used",
            ))
            .target(prom(node::MEM_TOTAL, "total"))
            .unit("bytes")
            .range(Some(0.0), None),
    );
    b.panel(
        PanelSpec::new("timeseries", "Load average", 8, 8)
            .target(prom(node::LOAD1, "1m"))
            .target(prom(node::LOAD5, "5m"))
            .target(prom(node::LOAD15, "15m"))
            .unit("short"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Disk space used", 8, 8)
            .describe("Per mount point, real filesystems only.")
            .target(prom(
                format!(
                    "1 - max by (mountpoint) ({avail}{{{fs}}}) / max by (mountpoint) ({size}{{{fs}}})",
                    avail = node::FS_AVAIL,
                    size = node::FS_SIZE
                ),
                "{{mountpoint}}",
            ))
            .unit("percentunit")
            .range(Some(0.0), Some(1.0)),
    );
    let host_network = crate::targets::compose::node_exporter_on_host(ctx.stack);
    b.panel(
        PanelSpec::new(
            "timeseries",
            "Disk I/O",
            if host_network { 8 } else { 16 },
            8,
        )
        .target(prom(rate(node::DISK_READ, "", ""), "read"))
        .target(prom(rate(node::DISK_WRITTEN, "", ""), "written"))
        .unit("Bps"),
    );
    if host_network {
        b.panel(
            PanelSpec::new("timeseries", "Network", 8, 8)
                .describe("Physical interfaces (not loopback or Docker bridges).")
                .target(prom(rate(node::NET_RX, &net, ""), "received"))
                .target(prom(rate(node::NET_TX, &net, ""), "sent"))
                .unit("Bps"),
        );
    }
}

/// The containers row (cAdvisor).
fn container_panels(ctx: &Ctx<'_>, b: &mut Board) {
    let project = format!("{}={}", labels::CADVISOR_PROJECT, quote(&ctx.stack.name));
    let by = labels::CADVISOR_SERVICE;
    let legend = format!("{{{{{by}}}}}");
    b.row("Containers");
    b.panel(
        PanelSpec::new("timeseries", "CPU by container", 12, 9)
            .describe("Cores used by each container of this compose project.")
            .target(prom(rate(cadvisor::CPU_SECONDS, &project, by), &legend))
            .unit("short"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Memory by container", 12, 9)
            .describe("Working set: what the kernel would not reclaim.")
            .target(prom(
                format!("sum by ({by}) ({}{{{project}}})", cadvisor::MEM_WORKING_SET),
                &legend,
            ))
            .unit("bytes"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Network received by container", 12, 8)
            .target(prom(rate(cadvisor::NET_RX, &project, by), &legend))
            .unit("Bps"),
    );
    b.panel(
        PanelSpec::new("timeseries", "Network sent by container", 12, 8)
            .target(prom(rate(cadvisor::NET_TX, &project, by), &legend))
            .unit("Bps"),
    );
}
