//! `vsc personalize`: one VSC onto the card in a PC/SC reader, verified, with a new PIN (with
//! `--server URL --queue`, the VSCs of a branch queue, card after card: see `queue`).
//!
//! The personalization engine (`vsc_core::perso`) decides everything: what the card holds,
//! what to write, what to check. This command connects to the reader for exclusive use, runs
//! the engine over PC/SC in one transaction, shows each step on standard error, and hands the
//! new PIN to the clerk exactly once: in the PIN mailer file, or on the terminal (then cleared).
//! Engine errors are printed as they are: they say what to do next.
//!
//! A card that already holds this VSC only gets a new PIN once the clerk confirms the engine's
//! question ("this card … was issued to … on …; set a new PIN?") at the terminal, or gave
//! `--new-pin` beforehand. The PC/SC transaction is ended while the question is open, so a
//! slow answer cannot make the reader reset the card mid-transaction.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand_core::OsRng;
use vsc_core::perso::{self, NewPinQuestion, Outcome, PersoError, Personalization, Step};
use vsc_core::pin::PinMailer;
use vsc_core::transport::TransportError;
use vsc_core::vsc::Vsc;
use vsc_pcsc::pcsc::Disposition;

use crate::atomic_file::{self, Existing};
use crate::error::CliError;
use crate::password_input::{self, PasswordArgs};
use crate::pcsc_messages;
use crate::pin_mailer;
use crate::vsc_file;

/// Options of `vsc personalize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sealed VSC file (not with --queue).
    #[arg(required_unless_present = "queue", conflicts_with = "queue")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// The reader holding the card, exactly as `vsc readers` lists it.
    #[arg(long, value_name = "NAME")]
    pub reader: String,
    /// Write the PIN mailer (a printable HTML page) to FILE. Without it the PIN is shown once
    /// on the terminal.
    #[arg(long, value_name = "FILE", conflicts_with = "queue")]
    pub pin_mailer: Option<PathBuf>,
    /// The profile the VSC was built with, if it is not a built-in one (id or file path).
    #[arg(long, value_name = "NAME|PATH")]
    pub profile: Option<String>,
    /// If the card already holds this VSC, set a new PIN without asking (the holder's current
    /// PIN stops working). Without it the question is asked on the terminal, and refused
    /// when there is none.
    #[arg(long)]
    pub new_pin: bool,
    /// Work the branch queue of the issuer service at URL as a station, card after card
    /// (with --queue).
    #[arg(long, value_name = "URL", requires = "queue")]
    pub server: Option<String>,
    /// Take the VSCs from the issuer's branch queue instead of a file (with --server).
    #[arg(long, requires = "server")]
    pub queue: bool,
    /// With --queue: the directory the PIN mailers go to, one `<uid>-pin-mailer.html` per card.
    #[arg(long, value_name = "DIR", requires = "queue")]
    pub pin_mailers: Option<PathBuf>,
    #[command(flatten)]
    pub station: crate::station::KeyArgs,
    #[command(flatten)]
    pub credentials: crate::issuer_client::CredentialArgs,
}

/// Runs `vsc personalize`.
pub fn run(args: &Args) -> Result<(), CliError> {
    let Some(file) = &args.file else {
        return crate::queue::run(args);
    };
    match &args.pin_mailer {
        None if !std::io::stdout().is_terminal() => {
            return Err(CliError::Input(
                "standard output is not a terminal, so the PIN cannot be shown once without \
                 landing in a file or a log: give --pin-mailer FILE"
                    .into(),
            ))
        }
        Some(path) => check_writable_dir(path)?,
        None => {}
    }
    let bytes = vsc_file::read(file)?;
    let password = password_input::read(&args.password, "VSC password")?;
    let vsc = vsc_file::open(file, &bytes, &password, args.profile.as_deref())?;
    drop(password);

    let started = Instant::now();
    let run = personalize_card(vsc, &args.reader, args.new_pin, &|| true)?;
    let outcome = run.result.map_err(|error| match error {
        PersoError::NewPinDeclined { .. } if !args.new_pin => CliError::Input(format!(
            "{error}; to set a new PIN, run again at a terminal and answer yes, or add --new-pin"
        )),
        other => CliError::Perso(other),
    })?;

    if outcome.is_replacement() {
        eprintln!("the card already held this VSC: it was re-verified and given a replacement PIN");
    }
    outln!(
        "VSC {} personalized for {} on the card in {:?} ({} APDUs, {:.2} s): verified",
        outcome.uid,
        outcome.holder_name,
        args.reader,
        outcome.apdus,
        started.elapsed().as_secs_f64()
    );
    let mailer = outcome.pin_mailer();
    match &args.pin_mailer {
        Some(path) => {
            write_pin_mailer(path, &mailer).map_err(|e| {
                CliError::Input(format!(
                    "{e}; the PIN is lost: personalize the card again with the same VSC \
                     (--new-pin) to set a new one"
                ))
            })?;
            eprintln!(
                "PIN mailer written to {}: print it, hand it to the holder, then delete the file",
                path.display()
            );
        }
        None => show_once(&mailer),
    }
    Ok(())
}

/// One run of the engine on a card: its result, the step it ended in, and the card's ATR.
pub struct CardRun {
    /// The engine's outcome, or why it stopped.
    pub result: Result<Outcome, PersoError>,
    /// The step the run ended in (where it failed, when it did).
    pub step: Step,
    /// The card's ATR, as the reader reported it.
    pub atr: Vec<u8>,
}

/// Personalizes the card in `reader` with `vsc` (the engine of `vsc_core::perso` over PC/SC,
/// one transaction per run of batches), showing each step on standard error. A card that
/// already holds this VSC gets a new PIN when `new_pin` says so or the clerk answers yes at
/// the terminal, and only while `still_held()` (a queued job's claim) holds. Errors before
/// the engine runs (no pcscd, no reader, no card) are [`CliError`]s; the engine's own end is
/// in [`CardRun::result`].
pub fn personalize_card(
    vsc: Vsc,
    reader: &str,
    new_pin: bool,
    still_held: &dyn Fn() -> bool,
) -> Result<CardRun, CliError> {
    let context = pcsc_messages::context()?;
    let mut card = pcsc_messages::connect(&context, reader)?;
    let atr = card
        .status2_owned()
        .map(|status| status.atr().to_vec())
        .unwrap_or_default();
    let mut engine = Personalization::new(vsc, &mut OsRng);
    eprintln!("{}...", Step::CheckCard.label());
    let mut shown = Step::CheckCard;
    // Whether the clerk said yes to a new PIN: the card holds this VSC then.
    let mut answered = false;
    loop {
        {
            let transaction = match card.transaction() {
                Ok(transaction) => transaction,
                // A card gone after the question holds this VSC: a failed run, not a card the
                // run never touched.
                Err(e) if answered => {
                    engine.transport_failed(TransportError::Failed(format!(
                        "the card in {reader:?} cannot be reached after the question ({e})"
                    )));
                    break;
                }
                Err(e) => {
                    return Err(CliError::Pcsc(format!(
                        "cannot start a transaction on the card in {reader:?} ({e}): put the \
                         card back and run again"
                    )))
                }
            };
            let mut transport = vsc_pcsc::CardTransport::new(&transaction);
            perso::run_batches(&mut engine, &mut transport, |progress| {
                if progress.step != shown {
                    shown = progress.step;
                    eprintln!("{}...", shown.label());
                }
            });
            drop(transport);
            // A card pulled mid-run cannot end its transaction; the run's error says what to do.
            let _ = transaction.end(Disposition::LeaveCard);
        }
        match engine.question() {
            Some(question) => {
                // A queued job taken back meanwhile gets no new PIN.
                let yes = still_held() && confirm_new_pin(&question, new_pin) && still_held();
                engine.answer(yes);
                if !yes {
                    // Declined: the run ends here, with nothing more sent to the card.
                    break;
                }
                answered = true;
            }
            None => break,
        }
        let step = engine.progress().step;
        if step != shown {
            shown = step;
            eprintln!("{}...", shown.label());
        }
    }
    // Reset, as the bridge does when a session ends: no verified PIN or open security state
    // survives the run on a card left in the reader.
    let _ = card.disconnect(Disposition::ResetCard);
    let step = engine.progress().step;
    Ok(CardRun {
        result: engine.finish(),
        step,
        atr,
    })
}

/// Writes the PIN mailer of a verified card to `path` (atomically, owner-only); the error
/// says the card is done and the mailer not written, and leaves the advice (how to get a
/// new PIN) to the caller, which knows whether the clerk holds the VSC.
pub fn write_pin_mailer(path: &Path, mailer: &PinMailer) -> Result<(), String> {
    atomic_file::write(
        path,
        pin_mailer::html(mailer).expose().as_bytes(),
        Existing::Replace,
    )
    .map_err(|e| {
        format!(
            "the card is personalized and verified, but its PIN mailer could not be written \
             to {} ({e})",
            path.display()
        )
    })
}

/// The clerk's answer to the engine's question: yes with `--new-pin`, otherwise asked on the
/// terminal (no when there is none, or on anything but y/yes).
fn confirm_new_pin(question: &NewPinQuestion, new_pin: bool) -> bool {
    eprintln!("{question}");
    if new_pin {
        eprintln!("--new-pin: yes");
        return true;
    }
    if !std::io::stdin().is_terminal() {
        eprintln!("no terminal to answer on: no");
        return false;
    }
    eprint!("Set a new PIN? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Fails early (before touching the card) when the PIN mailer's directory does not exist.
pub fn check_writable_dir(path: &Path) -> Result<(), CliError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if dir.is_dir() {
        Ok(())
    } else {
        Err(CliError::Input(format!(
            "the directory {} for the PIN mailer does not exist: create it first, so the PIN is \
             not lost after the card is written",
            dir.display()
        )))
    }
}

/// Shows the PIN on the terminal, waits for Enter, then clears the screen and its scrollback.
fn show_once(mailer: &PinMailer) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\n  PIN for {} (VSC {}):\n\n      {}\n\n  Give it to the holder only; it is stored nowhere.",
        mailer.holder_name,
        mailer.uid,
        mailer.pin.expose()
    );
    if std::io::stdin().is_terminal() {
        let _ = write!(out, "  Press Enter to clear it from the screen. ");
        let _ = out.flush();
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        // ANSI: erase the screen, erase the scrollback, cursor home.
        let _ = write!(out, "\x1b[2J\x1b[3J\x1b[H");
    }
    let _ = out.flush();
}
