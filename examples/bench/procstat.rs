//! What a benchmark child process costs, read from the kernel: CPU time
//! (getrusage), memory (/proc/self/status), threads (/proc/self/task) and
//! CPU time per thread name.

use std::collections::BTreeMap;

/// User + system CPU seconds of this process so far.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the struct we hand it.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft one.
pub fn raise_nofile() -> u64 {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        lim.rlim_cur
    }
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident set size now, KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// Peak resident set size, KiB.
pub fn hwm_kib() -> u64 {
    status_kib("VmHWM:")
}

/// OS threads of this process.
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Thread names with their digits and anything after ':' removed, so that
/// `rtpjitterbuffer12:src` and `rtpjitterbuffer3:src` add up.
fn thread_group(comm: &str) -> String {
    let base = comm.split(':').next().unwrap_or(comm);
    let s: String = base.chars().filter(|c| !c.is_ascii_digit()).collect();
    let s = s.trim_end_matches(['-', '_', '.']).to_string();
    if s.is_empty() { "(unnamed)".into() } else { s }
}

/// CPU ticks (utime + stime) and thread count per thread group.
pub fn thread_ticks() -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ... field 14 utime, 15 stime.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let rest: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // rest[0] is field 3 (state): utime is field 14 -> rest[11].
        let ticks = rest
            .get(11)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            + rest
                .get(12)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        let e = out.entry(thread_group(comm)).or_default();
        e.0 += ticks;
        e.1 += 1;
    }
    out
}

/// Ticks per second of /proc's CPU times.
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// CPU seconds per thread group between two [`thread_ticks`] snapshots
/// (threads that ended in between are missing from the difference).
pub fn thread_cpu_delta(
    before: &BTreeMap<String, (u64, u64)>,
    after: &BTreeMap<String, (u64, u64)>,
) -> BTreeMap<String, (f64, u64)> {
    let hz = clock_ticks();
    after
        .iter()
        .map(|(k, (t, n))| {
            let b = before.get(k).map(|v| v.0).unwrap_or(0);
            (k.clone(), (t.saturating_sub(b) as f64 / hz, *n))
        })
        .collect()
}
