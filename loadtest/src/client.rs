//! The client: keep-alive HTTP/1.1 connections driven by one thread over mio
//! (epoll), with optional pipelining. One thread and no runtime keeps the
//! client's CPU per request low: on two cores it must not be the bottleneck.
//!
//! Open loop: each connection has a schedule (the rate divided among the
//! connections) and a request's latency runs from its *intended* send time,
//! so a slow answer that delays the requests behind it is charged to them too
//! (no coordinated omission). Sleeps shorter than a millisecond are spun,
//! since epoll's timeout is in milliseconds. Closed loop: each connection keeps
//! `depth` requests outstanding.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use memchr::memmem;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::workload::Workload;

/// How requests are paced.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// As fast as answers come back.
    Closed,
    /// This many requests per second, over all connections.
    Rate(f64),
}

pub struct Plan {
    pub addr: SocketAddr,
    pub host: String,
    pub connections: usize,
    /// Requests outstanding per connection.
    pub depth: usize,
    pub pace: Pace,
    /// Answers before this much time has passed are checked but not timed.
    pub warmup: Duration,
    pub duration: Duration,
    pub max_requests: u64,
    /// How answers are judged.
    pub check: Check,
    /// Codes per request: above 1, each request is a batch lookup (`POST
    /// /v1/scan`) of that many consecutive codes of the sequence, and each
    /// code's answer in it is judged and counted as an answer.
    pub batch: usize,
    /// Above 0, each request comes as from one of this many clients behind a
    /// proxy (see [`Clients`]).
    pub clients: u32,
}

/// The clients requests come from, drawn one per request: a national
/// service's scans come from many phones, each recognised by the server's
/// repeat check as one client (with `--trusted-proxy 127.0.0.1`).
struct Clients {
    count: u32,
    rng: StdRng,
}

impl Clients {
    /// `None` for 0 clients: every request from the connection's address.
    fn new(count: u32) -> Option<Clients> {
        (count > 0).then(|| Clients {
            count,
            rng: StdRng::seed_from_u64(u64::from(count)),
        })
    }

    /// The `X-Forwarded-For` line of the next request: an address in
    /// 10.0.0.0/8 (`count` is at most 2^24, as `--clients` allows).
    fn next_line(&mut self) -> String {
        let n = self.rng.random_range(0..self.count);
        format!(
            "X-Forwarded-For: 10.{}.{}.{}\r\n",
            n >> 16,
            (n >> 8) & 255,
            n & 255
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Check {
    /// The status and body the snapshot implies.
    Snapshot,
    /// Like `snapshot`, but any 4xx stands for any other, with any body (a
    /// static server answers 404 with its own page where we answer 400).
    Loose4xx,
    /// Every answer must be 200 (a fixed-body server).
    Any200,
}

/// What a run measured.
pub struct Outcome {
    /// Latency of answers after the warm-up, in microseconds.
    pub latency: Histogram<u64>,
    /// Answers, timed or not.
    pub answers: u64,
    /// Body bytes of those answers.
    pub body_bytes: u64,
    /// Answers after the warm-up, and the time they span.
    pub timed: u64,
    pub timed_span: Duration,
    /// Wrong answers by kind, with one example each.
    pub wrong: Vec<(String, u64, String)>,
    /// Connections that failed, with why.
    pub errors: Vec<(String, u64)>,
    /// Requests sent and never answered (the run ended or a connection broke).
    pub unanswered: u64,
    /// Answers `503 overloaded` from a server past its connection cap; the
    /// server closes such a connection, which then sends no more. Not timed.
    pub shed: u64,
}

struct Conn {
    stream: TcpStream,
    /// Requests written or to write, oldest first: (case, intended time).
    outstanding: VecDeque<(u32, Instant)>,
    out: Vec<u8>,
    written: usize,
    input: Vec<u8>,
    /// The next intended send time (open loop) and position in the sequence.
    due: Instant,
    position: usize,
    broken: bool,
    /// The server shed this connection (503, then close): its closing is
    /// no error.
    shed: bool,
}

pub fn run(plan: &Plan, work: &Workload) -> Result<Outcome> {
    // What a connection sends, in the order of the sequence: one request
    // per case, or one batch per run of `plan.batch` cases. Built before
    // the clock starts.
    let mut clients = Clients::new(plan.clients);
    let mut forwarded_for = || {
        clients
            .as_mut()
            .map_or_else(String::new, Clients::next_line)
    };
    let units: Vec<Unit> = if plan.batch > 1 {
        work.sequence
            .chunks(plan.batch)
            .map(|members| {
                let codes: Vec<&str> = members
                    .iter()
                    .map(|&m| work.cases[m as usize].code.as_str())
                    .collect();
                let body = serde_json::to_vec(&codes).expect("codes serialise");
                let mut request = format!(
                    "POST /v1/scan HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
                    plan.host,
                    body.len(),
                    forwarded_for()
                )
                .into_bytes();
                request.extend_from_slice(&body);
                Unit {
                    request,
                    members: members.to_vec(),
                }
            })
            .collect()
    } else {
        work.sequence
            .iter()
            .map(|&case| {
                let c = &work.cases[case as usize];
                let accept = if work.page {
                    "Accept: text/html\r\n"
                } else {
                    ""
                };
                Unit {
                    request: format!(
                        "GET {} HTTP/1.1\r\nHost: {}\r\n{accept}{}\r\n",
                        c.target,
                        plan.host,
                        forwarded_for()
                    )
                    .into_bytes(),
                    members: vec![case],
                }
            })
            .collect()
    };
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(plan.connections);
    let start = Instant::now();
    let interval = match plan.pace {
        Pace::Rate(r) => Duration::from_secs_f64(plan.connections as f64 / r),
        Pace::Closed => Duration::ZERO,
    };
    for i in 0..plan.connections {
        let std = std::net::TcpStream::connect(plan.addr)
            .with_context(|| format!("connecting to {}", plan.addr))?;
        std.set_nodelay(true)?;
        std.set_nonblocking(true)?;
        let mut stream = TcpStream::from_std(std);
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(Conn {
            stream,
            outstanding: VecDeque::with_capacity(plan.depth),
            out: Vec::with_capacity(4096),
            written: 0,
            input: Vec::with_capacity(64 * 1024),
            // Spread the connections' schedules over one interval.
            due: start + interval.mul_f64(i as f64 / plan.connections as f64),
            position: i * work.sequence.len().div_ceil(plan.batch.max(1)) / plan.connections.max(1),
            broken: false,
            shed: false,
        });
    }
    let needles: Vec<Vec<memmem::Finder<'_>>> = work
        .cases
        .iter()
        .map(|c| {
            let expect = c.expected(plan.batch > 1);
            expect.needles.iter().map(memmem::Finder::new).collect()
        })
        .collect();

    let mut out = Outcome {
        // 1 µs to 60 s, three significant digits.
        latency: Histogram::new_with_bounds(1, 60_000_000, 3)?,
        answers: 0,
        body_bytes: 0,
        timed: 0,
        timed_span: Duration::ZERO,
        wrong: Vec::new(),
        errors: Vec::new(),
        unanswered: 0,
        shed: 0,
    };
    let end = start + plan.warmup + plan.duration;
    let timed_from = start + plan.warmup;
    let mut sent = 0u64;
    let mut events = Events::with_capacity(1024);
    let mut last_answer = start;
    loop {
        let now = Instant::now();
        let sending = now < end && sent < plan.max_requests;
        let mut next_due: Option<Instant> = None;
        for c in conns.iter_mut().filter(|c| !c.broken) {
            while sending && c.outstanding.len() < plan.depth && sent < plan.max_requests {
                let intended = match plan.pace {
                    Pace::Closed => now,
                    Pace::Rate(_) if c.due <= now => {
                        let d = c.due;
                        c.due += interval;
                        d
                    }
                    Pace::Rate(_) => break,
                };
                let unit = (c.position % units.len()) as u32;
                c.position += 1;
                c.out.extend_from_slice(&units[unit as usize].request);
                c.outstanding.push_back((unit, intended));
                sent += 1;
            }
            if matches!(plan.pace, Pace::Rate(_)) && c.outstanding.len() < plan.depth {
                next_due = Some(next_due.map_or(c.due, |d: Instant| d.min(c.due)));
            }
            if c.written < c.out.len() {
                if let Err(e) = flush(c) {
                    fail(&mut out, c, &e);
                }
            }
        }
        let waiting: u64 = conns.iter().map(|c| c.outstanding.len() as u64).sum();
        if !sending && (waiting == 0 || now > end + Duration::from_secs(5)) {
            out.unanswered += waiting;
            break;
        }
        if conns.iter().all(|c| c.broken) {
            out.unanswered += waiting;
            break;
        }
        // Sleep until something can be read or a send is due; spin the last
        // millisecond.
        let timeout = match next_due {
            Some(d) if sending => {
                let left = d.saturating_duration_since(Instant::now());
                if left < Duration::from_millis(1) {
                    Duration::ZERO
                } else {
                    left - Duration::from_millis(1)
                }
            }
            _ => Duration::from_millis(5),
        };
        poll.poll(&mut events, Some(timeout))?;
        for event in events.iter() {
            let c = &mut conns[event.token().0];
            if c.broken {
                continue;
            }
            if event.is_writable() && c.written < c.out.len() {
                if let Err(e) = flush(c) {
                    fail(&mut out, c, &e);
                    continue;
                }
            }
            if !event.is_readable() {
                continue;
            }
            // What came before a close is answered first: a server that
            // sheds a connection writes its 503 and closes at once.
            let filled = fill(c);
            let now = Instant::now();
            let mut consumed = 0;
            while let Some((len, status, body)) = parse_response(&c.input[consumed..]) {
                let Some((unit, intended)) = c.outstanding.pop_front() else {
                    let e = io::Error::other("an answer to no request");
                    fail(&mut out, c, &e);
                    break;
                };
                let body = &c.input[consumed + body.0..consumed + body.1];
                if status == 503 && memmem::find(body, b"\"overloaded\"").is_some() {
                    out.shed += 1;
                    c.shed = true;
                    consumed += len;
                    continue;
                }
                let members = &units[unit as usize].members;
                if plan.batch > 1 {
                    judge_batch(&mut out, plan.check, work, &needles, members, status, body);
                } else {
                    // A redirect says what it is in its head: the needles
                    // are looked for in the whole answer.
                    let whole = &c.input[consumed..consumed + len];
                    judge(
                        &mut out, plan.check, work, &needles, members[0], false, status, whole,
                    );
                }
                out.answers += members.len() as u64;
                out.body_bytes += body.len() as u64;
                if intended >= timed_from {
                    // Throughput is in codes answered; latency is per request.
                    out.timed += members.len() as u64;
                    last_answer = now;
                    let micros = now.saturating_duration_since(intended).as_micros() as u64;
                    out.latency.saturating_record(micros.max(1));
                }
                consumed += len;
            }
            c.input.drain(..consumed);
            if let Err(e) = filled {
                fail(&mut out, c, &e);
            }
        }
    }
    out.timed_span = last_answer.saturating_duration_since(timed_from);
    Ok(out)
}

fn flush(c: &mut Conn) -> io::Result<()> {
    while c.written < c.out.len() {
        match c.stream.write(&c.out[c.written..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the server closed",
                ));
            }
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    c.out.clear();
    c.written = 0;
    Ok(())
}

fn fill(c: &mut Conn) -> io::Result<()> {
    let mut buf = [0u8; 64 * 1024];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            Ok(n) => c.input.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn fail(out: &mut Outcome, c: &mut Conn, e: &io::Error) {
    c.broken = true;
    out.unanswered += c.outstanding.len() as u64;
    c.outstanding.clear();
    if c.shed {
        return;
    }
    let kind = e.to_string();
    match out.errors.iter_mut().find(|(k, _)| *k == kind) {
        Some((_, n)) => *n += 1,
        None => out.errors.push((kind, 1)),
    }
}

/// What a connection sends at once, and the cases it answers.
struct Unit {
    request: Vec<u8>,
    members: Vec<u32>,
}

/// Judges a batch answer: an array with one `{"status", "answer"}` per
/// member, in order.
fn judge_batch(
    out: &mut Outcome,
    check: Check,
    work: &Workload,
    needles: &[Vec<memmem::Finder<'_>>],
    members: &[u32],
    status: u16,
    body: &[u8],
) {
    #[derive(serde::Deserialize)]
    struct Element<'a> {
        status: u16,
        #[serde(borrow)]
        answer: &'a serde_json::value::RawValue,
    }
    let elements: Vec<Element<'_>> = match serde_json::from_slice(body) {
        Ok(e) if status == 200 => e,
        _ => Vec::new(),
    };
    if elements.len() != members.len() {
        // Every member is wrong: the batch did not answer them.
        for &case in members {
            judge(out, check, work, needles, case, true, 0, b"");
        }
        return;
    }
    for (element, &case) in elements.iter().zip(members) {
        judge(
            out,
            check,
            work,
            needles,
            case,
            true,
            element.status,
            element.answer.get().as_bytes(),
        );
    }
}

/// Judges one answer against what its case expects (as a batch member
/// when `batch`).
#[allow(clippy::too_many_arguments)]
fn judge(
    out: &mut Outcome,
    check: Check,
    work: &Workload,
    needles: &[Vec<memmem::Finder<'_>>],
    case: u32,
    batch: bool,
    status: u16,
    body: &[u8],
) {
    let c = &work.cases[case as usize];
    let (kind, ok) = match check {
        Check::Any200 => ("status", status == 200),
        Check::Snapshot | Check::Loose4xx => {
            let want = c.expected(batch).status;
            let status_ok = status == want
                || (check == Check::Loose4xx
                    && (400..500).contains(&want)
                    && (400..500).contains(&status));
            let loose_error = check == Check::Loose4xx && (400..500).contains(&want);
            if !status_ok {
                ("status", false)
            } else if loose_error {
                // A static server's error pages are its own.
                ("body", true)
            } else {
                let found = needles[case as usize]
                    .iter()
                    .all(|n| n.find(body).is_some());
                ("body", found)
            }
        }
    };
    if ok {
        return;
    }
    let kind = format!(
        "{:?} {kind}: expected {}, got {status}",
        c.form,
        c.expected(batch).status
    );
    match out.wrong.iter_mut().find(|(k, _, _)| *k == kind) {
        Some((_, n, _)) => *n += 1,
        None => {
            let example = format!(
                "{} -> {}",
                c.target,
                String::from_utf8_lossy(&body[..body.len().min(300)])
            );
            out.wrong.push((kind, 1, example));
        }
    }
}

/// One whole response at the start of `buf`: its length, status, and the
/// body's range. Every answer has a Content-Length (no chunked encoding from
/// the servers measured).
pub fn parse_response(buf: &[u8]) -> Option<(usize, u16, (usize, usize))> {
    let head_end = memmem::find(buf, b"\r\n\r\n")? + 4;
    let head = &buf[..head_end];
    let status = std::str::from_utf8(head.get(9..12)?).ok()?.parse().ok()?;
    let mut length = 0usize;
    for line in head.split(|&b| b == b'\n') {
        if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            length = std::str::from_utf8(&line[15..]).ok()?.trim().parse().ok()?;
        }
    }
    let total = head_end + length;
    (buf.len() >= total).then_some((total, status, (head_end, total)))
}
