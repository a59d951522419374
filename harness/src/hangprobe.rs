//! What a hung node was doing when a call never answered: which process of
//! its group was busy, and where.
//!
//! A hang's headline must name what hung, not the harness's own kill that
//! ends the run. Before a hung node is torn down, [`probe`] samples the CPU
//! time of every process in its group (lightningd, its subdaemons, its
//! plugins) twice, takes the one that used the most in between as the busy
//! one (a plugin spinning on a request; with none busy, lightningd itself,
//! which is where a request waits), and asks `eu-stack` (elfutils) or else
//! `gdb` for its stack. Both need ptrace rights, which the harness has over
//! its own descendants. Parsing is pure; the IO is [`probe`].

use std::path::Path;
use std::time::Duration;

/// How long apart the two CPU samples are: long enough for a spinning
/// process to show a few ticks (10 ms each), short enough not to delay the
/// end of a hung run.
const SAMPLE_GAP: Duration = Duration::from_millis(300);
/// How long a stack tool may take before the probe goes on without it.
const STACK_TIMEOUT: Duration = Duration::from_secs(3);
/// How many frames the headline names (as for crashes: the top three).
const HEADLINE_FRAMES: usize = 3;

/// One process of the hung node's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub pid: i32,
    /// `lightning_channeld`, `cln-xpay`, `crashy-plugin.py`: the program, or
    /// for an interpreter the script it runs.
    pub name: String,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// A script run by an interpreter: its native frames are the
    /// interpreter's own loop and name none of the script's code.
    pub script: bool,
    /// `T`: stopped (SIGSTOP) or traced: it will not answer anyone.
    pub stopped: bool,
}

/// What the probe found.
#[derive(Debug, Clone, Default)]
pub struct HangProbe {
    /// The busy process (or lightningd when none was) and how many ticks
    /// it used between the samples.
    pub busy: Option<(ProcInfo, u64)>,
    /// Its top frames, innermost first (function names only).
    pub frames: Vec<String>,
    /// Everything seen, for the bundle: the group, the stack tool's output
    /// or why there is none.
    pub text: String,
}

impl HangProbe {
    /// `busy: crashy-plugin.py at spin < handle < main`, for the headline
    /// and the step line.
    pub fn summary(&self) -> String {
        match &self.busy {
            None => "no process of the node was left to probe".into(),
            Some((p, _)) if p.stopped => with_frames(format!("stopped: {}", p.name), &self.frames),
            Some((p, 0)) => with_frames(format!("nothing busy, {} waiting", p.name), &self.frames),
            Some((p, _)) => with_frames(format!("busy: {}", p.name), &self.frames),
        }
    }
}

fn with_frames(head: String, frames: &[String]) -> String {
    if frames.is_empty() {
        head
    } else {
        format!("{head} at {}", frames.join(" < "))
    }
}

/// A hang's signature text: the call that never answered, without the node
/// (the signature carries it) or the scenario's timeout, then what was busy.
pub fn describe(what: &str, probe: &HangProbe) -> String {
    let what = what.split_once(": ").map_or(what, |(_, rest)| rest);
    let what = what.split(" within ").next().unwrap_or(what).trim();
    format!("{what}; {}", probe.summary())
}

/// A program's name from its command line: the script for an interpreter
/// (then `true`).
pub fn program(argv: &[String]) -> (String, bool) {
    let name = program_name(argv);
    let first = argv.first().map(|a| {
        Path::new(a)
            .file_name()
            .map_or(a.clone(), |n| n.to_string_lossy().into_owned())
    });
    let script = first.is_some_and(|f| f != name);
    (name, script)
}

fn program_name(argv: &[String]) -> String {
    let base = |s: &str| {
        Path::new(s)
            .file_name()
            .map_or(s.to_string(), |n| n.to_string_lossy().into_owned())
    };
    let Some(first) = argv.first() else {
        return "?".into();
    };
    let prog = base(first);
    let interpreter = ["python", "python3", "node", "bash", "sh", "perl", "ruby"]
        .iter()
        .any(|i| prog == *i || prog.starts_with(&format!("{i}.")) || prog.starts_with("python3."));
    match argv.iter().skip(1).find(|a| !a.starts_with('-')) {
        Some(script) if interpreter => base(script),
        _ => prog,
    }
}

/// The state letter of a `/proc/PID/stat` line (`R`, `S`, `T`, ...).
pub fn state(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// utime + stime from a `/proc/PID/stat` line (fields 14 and 15, counted
/// after the `(comm)`, which may hold spaces).
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The busiest process between two samples; ties and an idle group go to
/// `leader` (lightningd, where a request that nobody works on waits). A
/// stopped process comes first: it answers nobody, whatever else is busy.
pub fn busiest(before: &[ProcInfo], after: &[ProcInfo], leader: i32) -> Option<(ProcInfo, u64)> {
    if let Some(stopped) = after.iter().find(|p| p.stopped) {
        return Some((stopped.clone(), 0));
    }
    let used = |p: &ProcInfo| {
        let was = before
            .iter()
            .find(|b| b.pid == p.pid)
            .map_or(p.cpu_ticks, |b| b.cpu_ticks);
        p.cpu_ticks.saturating_sub(was)
    };
    let best = after.iter().max_by_key(|p| (used(p), p.pid == leader))?;
    if used(best) == 0 {
        let lead = after.iter().find(|p| p.pid == leader).unwrap_or(best);
        return Some((lead.clone(), 0));
    }
    Some((best.clone(), used(best)))
}

/// Functions that say nothing about which code is stuck: libc's waits and
/// entry points, the dynamic loader, a Python interpreter's own loop.
fn is_generic_frame(f: &str) -> bool {
    f.starts_with("__")
        || f.starts_with('_') && f.contains("Py")
        || f.starts_with("Py")
        || f.contains("@GLIBC")
        || f.contains("@@")
        || matches!(
            f,
            "poll"
                | "ppoll"
                | "epoll_wait"
                | "select"
                | "read"
                | "write"
                | "clock_nanosleep"
                | "nanosleep"
                | "_start"
                | "main"
                | "raise"
                | "abort"
        )
}

/// Function names from `eu-stack` (`#0  0x00007f... __poll`) or `gdb`
/// (`#0  0x00007f... in __poll (...) at file:line`) output, first thread
/// only, innermost first, generic frames dropped, at most three.
pub fn parse_frames(stack: &str) -> Vec<String> {
    let mut frames = Vec::new();
    let mut seen_thread = false;
    for line in stack.lines() {
        let t = line.trim();
        if t.starts_with("TID ") || t.starts_with("Thread ") {
            if seen_thread {
                break;
            }
            seen_thread = true;
            continue;
        }
        let Some(rest) = t.strip_prefix('#') else {
            continue;
        };
        let mut words = rest.split_whitespace().skip(1);
        let mut func = words.next().unwrap_or("");
        if func.starts_with("0x") {
            func = words.next().unwrap_or("");
        }
        if func == "in" {
            func = words.next().unwrap_or("");
        }
        let func = func.trim_end_matches("()");
        if func.is_empty() || func == "??" || func.starts_with("0x") || is_generic_frame(func) {
            continue;
        }
        frames.push(func.to_string());
        if frames.len() == HEADLINE_FRAMES {
            break;
        }
    }
    frames
}

/// The processes of group `pgid` now.
fn sample(pgid: i32) -> Vec<ProcInfo> {
    crate::process::live_group_members(pgid)
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let argv: Vec<String> = std::fs::read(format!("/proc/{pid}/cmdline"))
                .ok()?
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let (name, script) = program(&argv);
            Some(ProcInfo {
                pid,
                name,
                cpu_ticks: cpu_ticks(&stat)?,
                script,
                stopped: matches!(state(&stat), Some('T' | 't')),
            })
        })
        .collect()
}

/// Which stack tool is on PATH: eu-stack first (fast, no symbols server),
/// then gdb.
fn stack_command(pid: i32) -> Option<(String, Vec<String>)> {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
            .unwrap_or(false)
    };
    if on_path("eu-stack") {
        return Some(("eu-stack".into(), vec!["-p".into(), pid.to_string()]));
    }
    if on_path("gdb") {
        let args = [
            "-batch",
            "-nx",
            "-p",
            &pid.to_string(),
            "-ex",
            "thread apply all bt",
        ];
        return Some(("gdb".into(), args.iter().map(|s| s.to_string()).collect()));
    }
    None
}

async fn stack_of(pid: i32) -> Result<String, String> {
    let Some((tool, args)) = stack_command(pid) else {
        return Err("no stack: neither eu-stack (Debian elfutils) nor gdb is installed".into());
    };
    let mut cmd = tokio::process::Command::new(&tool);
    cmd.args(&args)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::null());
    match tokio::time::timeout(STACK_TIMEOUT, cmd.output()).await {
        Ok(Ok(out)) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr)),
        Ok(Err(e)) => Err(format!("no stack: {tool}: {e}")),
        Err(_) => Err(format!("no stack: {tool} took over {STACK_TIMEOUT:?}")),
    }
}

/// Probe the process group `pgid` (led by lightningd, pid `pgid`).
pub async fn probe(pgid: i32) -> HangProbe {
    let before = sample(pgid);
    tokio::time::sleep(SAMPLE_GAP).await;
    let after = sample(pgid);
    let mut text = String::from("processes (pid, program, cpu ticks):\n");
    for p in &after {
        text.push_str(&format!("  {} {} {}\n", p.pid, p.name, p.cpu_ticks));
    }
    let busy = busiest(&before, &after, pgid);
    let mut frames = Vec::new();
    if let Some((p, used)) = &busy {
        text.push_str(&format!(
            "\nbusy: {} (pid {}, {used} ticks in {SAMPLE_GAP:?})\n",
            p.name, p.pid
        ));
        match stack_of(p.pid).await {
            Ok(stack) => {
                if !p.script {
                    frames = parse_frames(&stack);
                }
                text.push_str(&stack);
            }
            Err(why) => text.push_str(&format!("{why}\n")),
        }
    }
    HangProbe { busy, frames, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, name: &str, cpu_ticks: u64) -> ProcInfo {
        ProcInfo {
            pid,
            name: name.into(),
            cpu_ticks,
            script: false,
            stopped: false,
        }
    }

    #[test]
    fn a_spinning_plugin_is_the_busy_process_not_lightningd() {
        let before = [
            p(10, "lightningd", 50),
            p(11, "lightning_gossipd", 3),
            p(12, "crashy-plugin.py", 7),
        ];
        let after = [
            p(10, "lightningd", 51),
            p(11, "lightning_gossipd", 3),
            p(12, "crashy-plugin.py", 37),
        ];
        assert_eq!(
            busiest(&before, &after, 10),
            Some((p(12, "crashy-plugin.py", 37), 30))
        );
    }

    #[test]
    fn a_stopped_subdaemon_is_named_even_when_another_process_is_busy() {
        let before = [p(10, "lightningd", 50), p(11, "lightning_connectd", 3)];
        let mut connectd = p(11, "lightning_connectd", 3);
        connectd.stopped = true;
        let after = [p(10, "lightningd", 60), connectd.clone()];
        let probe = HangProbe {
            busy: busiest(&before, &after, 10),
            frames: vec![],
            text: String::new(),
        };
        assert_eq!(probe.summary(), "stopped: lightning_connectd");
    }

    #[test]
    fn with_nothing_busy_lightningd_is_named_as_waiting() {
        let s = [p(10, "lightningd", 50), p(11, "lightning_hsmd", 2)];
        let probe = HangProbe {
            busy: busiest(&s, &s, 10),
            frames: vec!["io_loop".into()],
            text: String::new(),
        };
        assert_eq!(
            probe.summary(),
            "nothing busy, lightningd waiting at io_loop"
        );
    }

    #[test]
    fn interpreters_are_named_by_their_script() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            program(&argv(&["/usr/bin/python3", "/x/crashy-plugin.py"])),
            ("crashy-plugin.py".into(), true)
        );
        assert_eq!(
            program(&argv(&["python3.11", "-u", "/x/summary.py"])),
            ("summary.py".into(), true)
        );
        assert_eq!(
            program(&argv(&["/i/libexec/c-lightning/lightning_channeld"])),
            ("lightning_channeld".into(), false)
        );
        assert_eq!(
            program(&argv(&["/i/libexec/c-lightning/plugins/cln-xpay"])),
            ("cln-xpay".into(), false)
        );
    }

    #[test]
    fn cpu_ticks_come_after_a_comm_with_spaces() {
        let stat = "4242 (my plugin) R 1 4242 4242 0 -1 4194304 100 0 0 0 17 5 0 0 20 0 1 0 1 1 1";
        assert_eq!(cpu_ticks(stat), Some(22));
    }

    #[test]
    fn eu_stack_frames_skip_libc_and_the_interpreter() {
        let stack = "PID 5 - process\nTID 5:\n#0  0x00007f64e2fa8503 clock_nanosleep@GLIBC_2.2.5\n#1  0x00007f64e2face53 __nanosleep\n#2  0x0000557b138bf4af spin_forever\n#3  0x0000557b138bf4af handle_request\n#4  0x0000557b138bf4af plugin_main\n#5  0x0000557b138bf4af main\nTID 6:\n#0 0x1 other_thread\n";
        assert_eq!(
            parse_frames(stack),
            ["spin_forever", "handle_request", "plugin_main"]
        );
        let python = "TID 9:\n#0  0x00007f629eafe1cc _PyEval_EvalFrameDefault\n#1  0x00007f629ec508e4 PyEval_EvalCode\n#2  0x00007f629ec98909 run_mod\n";
        assert_eq!(parse_frames(python), ["run_mod"]);
    }

    /// Recorded on v25.05 (`hang-probe.txt` of a run whose connectd was
    /// SIGSTOPped): eu-stack's real output gives connectd's own frames.
    #[test]
    fn a_recorded_probe_of_a_stopped_connectd_parses_to_its_frames() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/evidence/hang/connectd-stopped-probe.txt"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let stack = &text[text.find("PID ").expect("eu-stack output")..];
        assert_eq!(parse_frames(stack), ["daemon_poll", "io_loop"]);
    }

    #[test]
    fn gdb_frames_parse_too() {
        let gdb = "Thread 1 (Thread 0x7f (LWP 5) \"lightningd\"):\n#0  0x00007f in __GI___poll (fds=0x5) at ../sysdeps/poll.c:29\n#1  0x000055 in daemon_poll (fds=0x5) at common/daemon.c:162\n#2  0x000055 in io_poll_lightningd () at lightningd/lightningd.c:767\n";
        assert_eq!(parse_frames(gdb), ["daemon_poll", "io_poll_lightningd"]);
    }

    #[test]
    fn the_signature_drops_the_node_and_the_timeout() {
        let probe = HangProbe {
            busy: Some((p(12, "crashy-plugin.py", 37), 30)),
            frames: vec![],
            text: String::new(),
        };
        assert_eq!(
            describe("alice: `getroutes` did not answer within 30.0s", &probe),
            "`getroutes` did not answer; busy: crashy-plugin.py"
        );
    }
}
