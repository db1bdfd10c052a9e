//! CPU time of the server (and of its database's processes) during the measured run, from
//! /proc: what bench/run.sh reports per request.

/// Clock ticks used so far, by the server and by the named processes (with the children they
/// waited for, e.g. PostgreSQL's exited backends).
pub struct Reading {
    server: Option<u64>,
    db: Option<u64>,
}

/// CPU time per run, in µs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub server_us: Option<f64>,
    pub db_us: Option<f64>,
}

pub struct Meters {
    pub server_pid: Option<u32>,
    pub db_process: Option<String>,
}

impl Meters {
    pub fn read(&self) -> Reading {
        Reading {
            server: self.server_pid.and_then(|pid| {
                let fields =
                    stat_fields(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
                Some(fields.1[0] + fields.1[1])
            }),
            db: self.db_process.as_deref().map(named_ticks),
        }
    }

    pub fn usage_since(&self, before: &Reading) -> Usage {
        let after = self.read();
        let us = |b: Option<u64>, a: Option<u64>| {
            Some(a?.checked_sub(b?)? as f64 * 1e6 / ticks_per_second())
        };
        Usage {
            server_us: us(before.server, after.server),
            db_us: us(before.db, after.db),
        }
    }
}

/// Every process called `name`: user + system time, its own and its waited-for children's.
fn named_ticks(name: &str) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        // A process may end between the listing and the read: it is skipped.
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("stat")).ok())
        .filter_map(|stat| stat_fields(&stat))
        .filter(|(comm, _)| comm == name)
        .map(|(_, t)| t.iter().sum::<u64>())
        .sum()
}

/// The command name and utime, stime, cutime, cstime of a /proc/PID/stat line.
fn stat_fields(stat: &str) -> Option<(String, [u64; 4])> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // After the name: field 3 (state) onward; utime is field 14.
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3)?.parse::<u64>().ok();
    Some((comm, [field(14)?, field(15)?, field(16)?, field(17)?]))
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant of the system; it has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_stat_line() {
        let line = "1234 (post gres) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17";
        let (comm, t) = stat_fields(line).unwrap();
        assert_eq!(comm, "post gres");
        assert_eq!(t, [11, 12, 13, 14]);
    }

    #[test]
    fn measures_this_process() {
        let meters = Meters {
            server_pid: Some(std::process::id()),
            db_process: None,
        };
        let before = meters.read();
        assert!(meters.usage_since(&before).server_us.is_some());
        assert!(meters.usage_since(&before).db_us.is_none());
    }
}
