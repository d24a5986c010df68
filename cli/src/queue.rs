//! `vsc personalize --server URL --queue --reader NAME`: this terminal as a station of the
//! issuer service, working its branch's queue card after card.
//!
//! For each card: wait until a card is in the reader, claim the next job for this station
//! (`POST /api/queue/claim`), open its password envelope with the station key
//! (`vsc_core::envelope`, bound to the job id, the branch and the `.vsc` received), open the
//! VSC, personalize the card with the same code as `vsc personalize FILE`
//! ([`crate::personalize::personalize_card`]), write its PIN mailer, and report the result
//! (`POST /api/jobs/{id}/result`): personalized, or failed with the step and the reason (the
//! service puts the job back in the queue). A card the engine did not write (another VSC's,
//! another card type) is not reported failed: its job is released. A card that held the job's
//! VSC already (an earlier claim wrote it) is given a new PIN if the clerk says yes (or with
//! `--new-pin`), and is otherwise reported failed (spoiled: the job goes to a new card). Then
//! the clerk removes the card and inserts the next one (unless the queue is empty).
//!
//! It stops when the queue has nothing left for this station, or on Ctrl-C: the card in
//! progress is finished and reported first (a second Ctrl-C quits at once; the claimed job then
//! returns to the queue when its lease runs out). Passwords and PINs never reach the terminal,
//! a log or the service.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;
use vsc_core::envelope::{self, Binding, StationSecretKey};
use vsc_core::job_envelopes::{MalformedEnvelope, WireEnvelope};
use vsc_core::perso::PersoError;
use vsc_core::secret::SecretString;
use vsc_core::vsc::Vsc;
use vsc_issuer_api::queue::{Claim, Hold, Outcome};
use vsc_pcsc::pcsc::{Context, ReaderState};

use crate::error::CliError;
use crate::issuer_client::{api_path, Credentials, Session};
use crate::personalize::{self, Args};
use crate::{pcsc_messages, profile_arg, station};

/// How a claimed job ended on this terminal.
enum Ended {
    /// Personalized, verified, reported.
    Personalized,
    /// Reported failed; the job is back in the queue.
    Failed,
    /// Released untouched (the card was not written); the job is back in the queue.
    Released,
}

/// Runs `vsc personalize --server URL --queue`.
pub fn run(args: &Args) -> Result<(), CliError> {
    let server = args
        .server
        .as_deref()
        .ok_or_else(|| CliError::Input("--queue needs --server URL".into()))?;
    if args.password.password_file.is_some() {
        return Err(CliError::Input(
            "--password-file is for one VSC file: with --queue each VSC's password comes in its \
             envelope, opened with this station's key"
                .into(),
        ));
    }
    let mailers = args.pin_mailers.clone().ok_or_else(|| {
        CliError::Input(
            "--queue needs --pin-mailers DIR, the directory the cards' PIN mailers are written \
             to"
            .into(),
        )
    })?;
    if !mailers.is_dir() {
        return Err(CliError::Input(format!(
            "--pin-mailers {}: not a directory; create it first, so no PIN is lost",
            mailers.display()
        )));
    }
    let profile = args.profile.as_deref().map(profile_arg::load).transpose()?;
    let (key, key_path, created) = station::load_or_create(&args.station)?;
    if created {
        return Err(CliError::Input(format!(
            "this terminal had no station key: one was made in {} (fingerprint {}). Enrol it \
             (`vsc station --server URL --enrol NAME`), have an admin approve it, then run again",
            key_path.display(),
            key.public_key().fingerprint()
        )));
    }
    let credentials = Credentials::read(&args.credentials)?;
    let mut session = Session::sign_in(server, &credentials)?;
    let station_id = station::approved_id(&mut session, &key.public_key())?;
    let context = pcsc_messages::context()?;
    let names = pcsc_messages::reader_names(&context)?;
    if !names
        .iter()
        .any(|name| name.as_bytes() == args.reader.as_bytes())
    {
        return Err(CliError::Input(format!(
            "there is no reader named {:?}: `vsc readers` lists the readers and their exact \
             names",
            args.reader
        )));
    }
    let stop = ctrl_c_flag()?;
    eprintln!(
        "working the queue of {} as {} with station {station_id} (fingerprint {}); Ctrl-C \
         stops after the card in progress",
        session.base(),
        session.user(),
        key.public_key().fingerprint()
    );
    let worker = Worker {
        key,
        station_id,
        reader: args.reader.clone(),
        mailers,
        profile,
        new_pin: args.new_pin,
        credentials,
    };
    let (mut personalized, mut failed, mut released) = (0usize, 0usize, 0usize);
    let mut card_done = false;
    let why = loop {
        if stop.load(Ordering::SeqCst) {
            break "stopped (Ctrl-C)".to_owned();
        }
        // `total` counts the whole queue (queued and claimed jobs), not one page of it; a queue
        // whose jobs are all claimed elsewhere ends at the claim below.
        let queue = session.get("/api/queue")?;
        let waiting = queue["total"].as_u64().unwrap_or(0);
        if waiting == 0 {
            break "the queue is empty".to_owned();
        }
        if card_done {
            eprintln!("remove the card from {:?}", worker.reader);
            if !wait_for_card(&context, &worker.reader, false, &stop)? {
                break "stopped (Ctrl-C)".to_owned();
            }
        }
        if !card_in_reader(&context, &worker.reader)? {
            eprintln!(
                "insert the next card into {:?} ({waiting} job(s) in the queue; Ctrl-C to stop)",
                worker.reader
            );
        }
        if !wait_for_card(&context, &worker.reader, true, &stop)? {
            break "stopped (Ctrl-C)".to_owned();
        }
        let claim = session.post(
            "/api/queue/claim",
            &Claim {
                station: worker.station_id.clone(),
                job: None,
            },
        )?;
        if claim["job"].is_null() {
            break "no queued job of this branch has an envelope for this station".to_owned();
        }
        match worker.work(&mut session, &claim)? {
            Ended::Personalized => personalized += 1,
            Ended::Failed => failed += 1,
            Ended::Released => released += 1,
        }
        card_done = true;
    };
    outln!(
        "{why}: {personalized} card(s) personalized, {failed} failed and {released} not written \
         (their jobs are back in the queue)"
    );
    session.sign_out();
    Ok(())
}

/// What working one claimed job needs.
struct Worker {
    key: StationSecretKey,
    station_id: String,
    reader: String,
    mailers: PathBuf,
    profile: Option<vsc_core::profile::Profile>,
    new_pin: bool,
    /// To sign in again when the session ends while a verified card waits to be reported.
    credentials: Credentials,
}

impl Worker {
    /// Opens, personalizes and reports the job `claim` gave.
    fn work(&self, session: &mut Session, claim: &Value) -> Result<Ended, CliError> {
        let job = &claim["job"];
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        let branch = job["branch"].as_str().unwrap_or_default();
        // Every renewal, release and report of this job is made under this claim.
        let hold = Hold {
            claim: claim["claim"].as_str().unwrap_or_default().to_owned(),
        };
        let vsc = match self.open(claim, &id, branch) {
            Ok(vsc) => vsc,
            Err(error) => {
                // Not this card's fault, nor this job's to fail: back to the queue (behind the
                // jobs waiting there), and stop: this station cannot open the job's envelope.
                release(session, &id, &hold)?;
                return Err(CliError::Input(format!(
                    "job {id}: {error}; the job was released: ask the issuer to reissue it"
                )));
            }
        };
        let holder = vsc.holder_name();
        eprintln!("job {id}: VSC for {holder}");
        let started = Instant::now();
        let lease = Duration::from_secs(claim["lease_seconds"].as_u64().unwrap_or(600));
        // Kept until the job is reported (or released): a verified card whose report waits for
        // the service keeps its claim.
        let renewing = LeaseKeeper::start(session, &self.credentials, &id, &hold, lease);
        let run =
            personalize::personalize_card(vsc, &self.reader, self.new_pin, &|| !renewing.lost());
        renewing.adopt(session);
        if renewing.lost() {
            return Ok(taken_back(&id, card_after(&run)));
        }
        let run = match run {
            Ok(run) => run,
            Err(error) => {
                eprintln!("job {id}: {error}");
                release(session, &id, &hold)?;
                eprintln!("job {id} released: it is back in the queue");
                return Ok(Ended::Released);
            }
        };
        match run.result {
            Ok(outcome) => {
                let path = self
                    .mailers
                    .join(format!("{}-pin-mailer.html", outcome.uid));
                // From here the card holds the VSC: the job is reported personalized whatever
                // happens next, never failed or released (another card would get the same VSC).
                let mailer = personalize::write_pin_mailer(&path, &outcome.pin_mailer());
                let report = Outcome::Personalized {
                    claim: hold.claim.clone(),
                    atr: hex::encode_upper(&run.atr),
                    apdus: outcome.apdus as u64,
                    read_back_ok: true,
                };
                if let Err(error) = report_personalized(session, &self.credentials, &id, &report) {
                    if renewing.lost() {
                        return Ok(taken_back(&id, VERIFIED_TAKEN_BACK));
                    }
                    let mailer_state = match &mailer {
                        Ok(()) => format!("its PIN mailer is {}", path.display()),
                        Err(_) => "its PIN mailer could not be written".to_owned(),
                    };
                    return Err(CliError::Input(format!(
                        "job {id}: the card for {} is personalized and verified ({mailer_state}), \
                         but the service refused its report ({error}): keep the card and tell \
                         an administrator that job {id} is personalized",
                        outcome.holder_name
                    )));
                }
                if let Err(error) = mailer {
                    return Err(CliError::Input(format!(
                        "job {id}: {error}; the PIN is lost. The job is reported personalized, \
                         since the card holds its VSC: set the card aside and ask the issuer for \
                         a new PIN for {}",
                        outcome.holder_name
                    )));
                }
                outln!(
                    "job {id}: VSC {} personalized for {} ({} APDUs, {:.2} s): verified; PIN \
                     mailer {}",
                    outcome.uid,
                    outcome.holder_name,
                    outcome.apdus,
                    started.elapsed().as_secs_f64(),
                    path.display()
                );
                Ok(Ended::Personalized)
            }
            Err(error) if error.card_untouched() => {
                eprintln!("job {id}: {error}");
                release(session, &id, &hold)?;
                eprintln!("job {id} released, the card was not written: it is back in the queue");
                Ok(Ended::Released)
            }
            Err(error) => {
                let status_word = match &error {
                    PersoError::Refused { sw, .. } => Some(format!("{:04X}", sw.0)),
                    _ => None,
                };
                let spoiled = spoiled_advice(&error);
                let reported = report_failed(
                    session,
                    &id,
                    &hold,
                    run.step.label(),
                    status_word,
                    &error.to_string(),
                );
                if let Err(report_error) = reported {
                    // The card advice holds whether the service heard or not.
                    return Err(CliError::Input(format!(
                        "job {id}: failed while {}: {error}. {spoiled}. The failure could not be \
                         reported ({report_error}): the job returns to the queue when its lease \
                         ends",
                        run.step.in_words()
                    )));
                }
                outln!(
                    "job {id}: failed while {}: {error}; reported failed: the job is back in \
                     the queue for a new blank card. {spoiled}",
                    run.step.in_words()
                );
                Ok(Ended::Failed)
            }
        }
    }

    /// The claimed VSC, opened with the password from its envelope.
    fn open(&self, claim: &Value, id: &str, branch: &str) -> Result<Vsc, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(claim["vsc"].as_str().unwrap_or_default())
            .map_err(|_| "the claimed .vsc is not base64".to_owned())?;
        let wire: WireEnvelope = serde_json::from_value(claim["envelope"].clone())
            .map_err(|_| MalformedEnvelope.to_string())?;
        let envelope = wire.parse().map_err(|e| e.to_string())?;
        let binding = Binding::new(id, branch, &bytes).map_err(|e| e.to_string())?;
        let plaintext =
            envelope::open(&envelope, &self.key, &binding).map_err(|e| e.to_string())?;
        let password = std::str::from_utf8(plaintext.expose())
            .map(|text| SecretString::new(text.to_owned()))
            .map_err(|_| "the opened envelope does not hold a VSC password".to_owned())?;
        let opened = match &self.profile {
            Some(profile) => Vsc::open_with_profile(&bytes, password.expose(), profile),
            None => Vsc::open(&bytes, password.expose()),
        };
        opened.map_err(|e| format!("the VSC does not open with its envelope's password: {e}"))
    }
}

/// Seconds between reports of a verified card once the first quick tries failed.
const REPORT_RETRY_SECONDS: u64 = 10;

/// What a run whose claim the service took back (a renewal refused: the lease ended and the
/// job was claimed again) says and counts: nothing is sent for the job any more, and a card
/// that may hold its VSC is to be set aside, since another card gets the job. `card` says what
/// the run left on the card ([`card_after`]).
fn taken_back(id: &str, card: &str) -> Ended {
    outln!(
        "job {id}: this station's claim was taken back by the service (its lease ended and the \
         job was claimed again). {card}"
    );
    Ended::Failed
}

/// What a card holds after a run, for [`taken_back`].
fn card_after(run: &Result<personalize::CardRun, CliError>) -> &'static str {
    match run.as_ref().map(|run| &run.result) {
        Ok(Ok(_)) => VERIFIED_TAKEN_BACK,
        Ok(Err(error)) if error.card_untouched() => "Nothing was written to the card.",
        Ok(Err(error)) => spoiled_advice(error),
        Err(_) => MAY_HOLD_PART,
    }
}

/// What the clerk does with a card a run that failed with `error` may have left holding the
/// job's VSC (not [`PersoError::card_untouched`]): the job goes to a new card, so this one is
/// set aside.
fn spoiled_advice(error: &PersoError) -> &'static str {
    match error {
        // The card held this job's VSC already (an earlier claim wrote it) and no new PIN was
        // set.
        PersoError::NewPinDeclined { .. } => {
            "This card is spoiled: it holds this VSC from before, with the PIN it had then, so \
             set it aside to be destroyed (answer yes, or run with --new-pin, to give such a \
             card a new PIN and finish the job on it)"
        }
        _ => MAY_HOLD_PART,
    }
}

/// A card a failed run may have written part of the VSC to.
const MAY_HOLD_PART: &str = "This card is spoiled: it may hold part of the VSC, so set it aside \
    to be destroyed; do not run it again";

/// A verified card whose claim was taken back.
const VERIFIED_TAKEN_BACK: &str = "The card was personalized meanwhile, but another card may get \
    the same VSC: do not hand this card out or use its PIN mailer; set it aside and tell an \
    administrator";

/// After a verified card's report was not taken (`answer`: the HTTP status, or `None` when
/// the service could not be reached) on try number `attempt`: the seconds to wait before
/// sending it again, or `None` when the service refused it for good (it said why).
fn retry_report_after(answer: Option<u16>, attempt: u64) -> Option<u64> {
    match answer {
        // Too many requests: the service's rate limit, which passes.
        Some(status) if status < 500 && status != 429 => None,
        _ if attempt < 3 => Some(attempt),
        _ => Some(REPORT_RETRY_SECONDS),
    }
}

/// Reports job `id` personalized until the service takes it: while the service or the
/// network fails the report is sent again (the caller keeps renewing the lease), so the job
/// never returns to the queue for a second card with the same VSC. A session that ended is
/// signed in again with `credentials` (the service takes the report under the same claim). A
/// report sent again after its answer was lost gets the recorded result. A refusal is
/// returned.
fn report_personalized(
    session: &mut Session,
    credentials: &Credentials,
    id: &str,
    report: &Outcome,
) -> Result<(), CliError> {
    let path = api_path(&["api", "jobs", id, "result"], &[]);
    let mut attempt = 1;
    loop {
        let (status, error) = match session.post_answered(&path, report) {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err((401, ended))) => match Session::sign_in_answered(session.base(), credentials) {
                Ok(Ok(again)) => {
                    eprintln!("job {id}: the session had ended ({ended}); signed in again");
                    *session = again;
                    attempt += 1;
                    continue;
                }
                // Refused (a new password, the account disabled or locked): the same
                // credentials again would only count towards a lockout.
                Ok(Err((status, refused))) => (Some(status), refused),
                Err(unreachable) => (None, unreachable),
            },
            Ok(Err((status, refusal))) => (Some(status), refusal),
            Err(unreachable) => (None, unreachable),
        };
        match retry_report_after(status, attempt) {
            None => return Err(error),
            Some(seconds) => {
                eprintln!(
                    "job {id}: the card is verified but reporting it failed ({error}); the job \
                     stays claimed, trying again in {seconds} s (Ctrl-C twice gives up)"
                );
                std::thread::sleep(Duration::from_secs(seconds));
                attempt += 1;
            }
        }
    }
}

/// `POST /api/jobs/{id}/release`: back to the queue, untouched.
fn release(session: &mut Session, id: &str, hold: &Hold) -> Result<(), CliError> {
    session
        .post(&api_path(&["api", "jobs", id, "release"], &[]), hold)
        .map(drop)
}

/// Reports job `id` failed at `step` (the service puts it back in the queue).
fn report_failed(
    session: &mut Session,
    id: &str,
    hold: &Hold,
    step: &str,
    status_word: Option<String>,
    reason: &str,
) -> Result<(), CliError> {
    session
        .post(
            &api_path(&["api", "jobs", id, "result"], &[]),
            &Outcome::Failed {
                claim: hold.claim.clone(),
                step: step.to_owned(),
                status_word,
                reason: reason.to_owned(),
            },
        )
        .map(drop)
}

/// Renews the lease of a claimed job every third of its length on a thread of its own, until
/// dropped: a card run waiting on a question at the terminal keeps its job. A session that
/// ended (the service signed it out) is signed in again with the station's credentials, as the
/// report does, and the new session is handed to the card's run ([`LeaseKeeper::adopt`]); a
/// sign-in refused is not tried again (it would count towards a lockout). A renewal refused
/// with 409 means the claim no longer holds the job ([`LeaseKeeper::lost`]); any other failed
/// renewal is left to the result report, which says what happened.
struct LeaseKeeper {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A session the keeper signed in, not yet adopted.
    fresh: Arc<std::sync::Mutex<Option<Session>>>,
    /// Set when the service refused a renewal with 409.
    lost: Arc<AtomicBool>,
}

impl LeaseKeeper {
    fn start(
        session: &Session,
        credentials: &Credentials,
        id: &str,
        hold: &Hold,
        lease: Duration,
    ) -> LeaseKeeper {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let mut session = session.clone();
        let credentials = credentials.clone();
        let path = api_path(&["api", "jobs", id, "renew"], &[]);
        let hold = hold.clone();
        let every = (lease / 3).max(Duration::from_secs(1));
        let fresh = Arc::new(std::sync::Mutex::new(None));
        let handed = Arc::clone(&fresh);
        let lost = Arc::new(AtomicBool::new(false));
        let lost_here = Arc::clone(&lost);
        let thread = std::thread::spawn(move || {
            let mut refused = false;
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every)
            {
                match session.post_answered(&path, &hold) {
                    Ok(Err((401, _))) => {}
                    Ok(Err((409, why))) => {
                        eprintln!("the lease of the job was refused: {why}");
                        lost_here.store(true, Ordering::SeqCst);
                        break;
                    }
                    _ => continue,
                }
                if refused {
                    continue;
                }
                match Session::sign_in_answered(session.base(), &credentials) {
                    Ok(Ok(again)) => {
                        session = again;
                        let _ = session.post(&path, &hold);
                        *handed.lock().unwrap_or_else(|p| p.into_inner()) = Some(session.clone());
                    }
                    // The service's rate limit passes: tried again at the next turn.
                    Ok(Err((429, _))) => {}
                    Ok(Err((_, why))) => {
                        eprintln!("the lease of the job could not be renewed: {why}");
                        refused = true;
                    }
                    Err(_) => {}
                }
            }
        });
        LeaseKeeper {
            stop: Some(stop),
            thread: Some(thread),
            fresh,
            lost,
        }
    }

    /// Whether the service refused a renewal: the claim no longer holds the job (its lease
    /// ended and it was claimed again), so nothing more is written or sent for it.
    fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Puts the session the keeper signed in since (its run's had ended), if any, in place of
    /// `session`, for the run's release or report.
    fn adopt(&self, session: &mut Session) {
        if let Some(fresh) = self.fresh.lock().unwrap_or_else(|p| p.into_inner()).take() {
            *session = fresh;
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A flag Ctrl-C raises (a second Ctrl-C exits at once).
fn ctrl_c_flag() -> Result<Arc<AtomicBool>, CliError> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!(
                "quit at once: a card being personalized may hold its VSC without its job \
                 being told; set that card aside, and its job returns to the queue when its \
                 lease ends"
            );
            std::process::exit(130);
        }
        eprintln!("stopping after the card in progress (Ctrl-C again to quit at once)");
    })
    .map_err(|e| CliError::Input(format!("cannot watch for Ctrl-C: {e}")))?;
    Ok(stop)
}

/// Whether a card is in `reader` now.
fn card_in_reader(context: &Context, reader: &str) -> Result<bool, CliError> {
    let mut states = [reader_state(reader)?];
    status_change(context, &mut states, Duration::ZERO)?;
    Ok(has_card(&states[0]))
}

/// Waits until `reader` holds a card (`present`) or none; `false` if Ctrl-C came first.
fn wait_for_card(
    context: &Context,
    reader: &str,
    present: bool,
    stop: &AtomicBool,
) -> Result<bool, CliError> {
    let mut states = [reader_state(reader)?];
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(false);
        }
        status_change(context, &mut states, Duration::from_millis(250))?;
        if has_card(&states[0]) == present {
            return Ok(true);
        }
        states[0].sync_current_state();
    }
}

fn reader_state(reader: &str) -> Result<ReaderState, CliError> {
    vsc_pcsc::reader_state(reader)
        .map_err(|_| CliError::Input("a reader name cannot contain a NUL byte".into()))
}

fn status_change(
    context: &Context,
    states: &mut [ReaderState],
    timeout: Duration,
) -> Result<(), CliError> {
    vsc_pcsc::wait_for_change(context, states, timeout)
        .map(drop)
        .map_err(pcsc_messages::status_error("the reader"))
}

/// Whether the reader holds a card that answers.
fn has_card(state: &ReaderState) -> bool {
    let status = vsc_pcsc::ReaderStatus::from(state);
    status.card_present() && !status.mute()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuer_client::CredentialArgs;
    use serde_json::json;
    use std::collections::BTreeMap;
    use vsc_tests::issuer::{Issuer, PW};

    /// A job queued at branch b1 of `issuer` for `station` (its envelope random bytes: only its
    /// lease matters here); its id.
    fn queued_job(issuer: &Issuer, station: &str) -> String {
        let mut clerk = issuer.login("clerk");
        let record = issuer.records(&mut clerk, 1)[0];
        let profile = vsc_core::profile::Profile::builtin("iso7816-generic").unwrap();
        let values = BTreeMap::from([
            ("holder_name".to_owned(), "Holder 0".to_owned()),
            ("holder_id".to_owned(), "H-0".to_owned()),
            ("expiry_date".to_owned(), "2031-12-31".to_owned()),
            ("email".to_owned(), "h0@example.org".to_owned()),
        ]);
        let holder =
            vsc_core::holder::validate_record(&profile, &values, vsc_tests::test_day()).unwrap();
        let sealed = Vsc::build_sealed(
            &profile,
            &holder,
            vsc_tests::test_built_at_ms(),
            &mut rand_core::OsRng,
        )
        .unwrap();
        let (status, body) = clerk.post(
            "/api/jobs",
            json!({ "record": record, "branch": "b1",
                    "vsc": base64::engine::general_purpose::STANDARD.encode(&sealed.bytes),
                    "envelopes": [{ "station": station, "enc": "11".repeat(32), "ciphertext": "22".repeat(48) }] }),
        );
        assert_eq!(status, 201, "{body}");
        let id = sealed.uid.to_string();
        let (status, body) = issuer
            .login("approver")
            .post(&format!("/api/jobs/{id}/approve"), Value::Null);
        assert_eq!(status, 200, "{body}");
        id
    }

    /// The operator's credentials, read from an owner-only file in `dir` as `vsc` reads them.
    fn operator_credentials(dir: &std::path::Path) -> Credentials {
        let path = dir.join("operator.credentials");
        std::fs::write(&path, format!("operator\n{PW}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Credentials::read(&CredentialArgs {
            credentials: Some(path),
        })
        .unwrap()
    }

    #[test]
    fn a_claimed_job_keeps_its_lease_while_the_card_run_lasts() {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}/issuer.db", dir.path().display());
        let issuer = Issuer::start_on(&db, &["--lease-seconds", "2"]);
        let station = issuer.station("operator");
        let first = queued_job(&issuer, &station);
        let second = queued_job(&issuer, &station);
        let credentials = operator_credentials(dir.path());
        let mut session = Session::sign_in(&issuer.server.base, &credentials).unwrap();
        let mut claim = |job: &str| {
            let claim = session
                .post(
                    "/api/queue/claim",
                    &json!({ "station": station, "job": job }),
                )
                .unwrap();
            assert_eq!(claim["lease_seconds"], 2, "{claim}");
            claim
        };
        let kept = claim(&first);
        let lapsed = claim(&second);
        let hold = |job: &Value| Hold {
            claim: job["claim"].as_str().unwrap().to_owned(),
        };
        let keeper = LeaseKeeper::start(
            &session,
            &credentials,
            &first,
            &hold(&kept),
            Duration::from_secs(2),
        );
        // The session the keeper started with ends: it signs in again, keeps renewing, and
        // hands the new session over for the run's report.
        session.clone().sign_out();
        std::thread::sleep(Duration::from_millis(3500));
        keeper.adopt(&mut session);
        drop(keeper);
        session
            .get("/api/queue")
            .expect("the keeper's session is the run's now");
        let renew = |job: &Value| {
            api_path(
                &["api", "jobs", job["job"]["id"].as_str().unwrap(), "renew"],
                &[],
            )
        };
        assert!(
            session.post(&renew(&kept), &hold(&kept)).is_ok(),
            "the kept job is still held"
        );
        let error = session.post(&renew(&lapsed), &hold(&lapsed)).unwrap_err();
        assert!(error.to_string().contains("expired"), "{error}");

        // A verified card's report sent again after its answer was lost: taken, not refused.
        let report = Outcome::Personalized {
            claim: hold(&kept).claim,
            atr: "3B00".into(),
            apdus: 1,
            read_back_ok: true,
        };
        report_personalized(&mut session, &credentials, &first, &report).unwrap();
        report_personalized(&mut session, &credentials, &first, &report).unwrap();
        // And after the session ended meanwhile: signed in again, taken.
        session.clone().sign_out();
        assert!(session.get("/api/queue").is_err(), "the session ended");
        report_personalized(&mut session, &credentials, &first, &report).unwrap();
        let job = session
            .get(&api_path(&["api", "jobs", &first], &[]))
            .unwrap();
        assert_eq!(job["job"]["state"], "personalized", "{job}");

        // The operator's password is changed (its sessions end) while a lease is kept: the
        // keeper's sign-in is refused once, and not tried again every renewal.
        let third = queued_job(&issuer, &station);
        let claimed = session
            .post(
                "/api/queue/claim",
                &json!({ "station": station, "job": third }),
            )
            .unwrap();
        let keeper = LeaseKeeper::start(
            &session,
            &credentials,
            &third,
            &hold(&claimed),
            Duration::from_secs(2),
        );
        let mut admin = issuer.login("admin");
        let (status, body) = admin.send(
            "PATCH",
            "/api/users/operator",
            json!({ "password": "a new password for the operator" }),
        );
        assert_eq!(status, 200, "{body}");
        std::thread::sleep(Duration::from_millis(4500));
        drop(keeper);
        let auditor = issuer.login("auditor");
        let (_, audit) = auditor.get("/api/audit?actor=operator&action=login&outcome=refused");
        let refused = audit["rows"].as_array().map_or(0, Vec::len);
        assert_eq!(
            refused, 1,
            "one refused sign-in, not one per renewal: {audit}"
        );
    }

    #[test]
    fn a_claim_taken_back_is_seen_by_the_lease_keeper() {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}/issuer.db", dir.path().display());
        let issuer = Issuer::start_on(&db, &["--lease-seconds", "3"]);
        let station = issuer.station("operator");
        let job = queued_job(&issuer, &station);
        let credentials = operator_credentials(dir.path());
        let mut session = Session::sign_in(&issuer.server.base, &credentials).unwrap();
        let claim = json!({ "station": station, "job": job });
        let first = session.post("/api/queue/claim", &claim).unwrap();
        let keeper = LeaseKeeper::start(
            &session,
            &credentials,
            &job,
            &Hold {
                claim: first["claim"].as_str().unwrap().to_owned(),
            },
            Duration::from_secs(3),
        );
        std::thread::sleep(Duration::from_millis(1500));
        assert!(!keeper.lost(), "renewed while the claim holds");
        // Given back and claimed again elsewhere (here by the same operator, as from a second PC).
        session
            .post(
                &api_path(&["api", "jobs", &job, "release"], &[]),
                &json!({ "claim": first["claim"] }),
            )
            .unwrap();
        let again = session.post("/api/queue/claim", &claim).unwrap();
        assert_ne!(again["claim"], first["claim"]);
        // The next renewal (every second) is refused; a loaded machine may take longer.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !keeper.lost() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(keeper.lost(), "the refused renewal is seen");
    }

    #[test]
    fn a_verified_cards_report_is_retried_only_while_the_service_fails() {
        for refused in [400, 401, 403, 404, 409, 422] {
            assert_eq!(retry_report_after(Some(refused), 1), None);
        }
        // 429: the service's rate limit, which passes.
        for failed in [None, Some(429), Some(500), Some(503)] {
            assert_eq!(retry_report_after(failed, 1), Some(1));
            assert_eq!(retry_report_after(failed, 2), Some(2));
            assert_eq!(
                retry_report_after(failed, 3),
                Some(REPORT_RETRY_SECONDS),
                "then every {REPORT_RETRY_SECONDS} s, never given up"
            );
        }
    }
}
