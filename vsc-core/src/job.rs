//! The issuer's job state machine: states, actions, roles and the one transition table.
//!
//! A job is one VSC on its way to a card. The issuer service enforces this table and the page
//! reads it to show only the buttons that can work; both use this module, so there is one
//! definition. Each row says: in this state, this action, taken by this role (or by the
//! service itself), leads to that state. Every other (state, action) pair is refused.
//!
//! What this module does not do: store jobs, check who created a job (four-eyes) or whether a
//! lease is still valid; the service does that around [`transition`].

use std::fmt;
use std::str::FromStr;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Uploaded by a clerk, waiting for an approver.
    Prepared,
    /// Approved, waiting in its branch's queue.
    Queued,
    /// Claimed by an operator's station, under a lease.
    Claimed,
    /// Written to a card and verified by read-back.
    Personalized,
    /// Withdrawn (or rejected) before it reached a card.
    Cancelled,
    /// Its card was reported lost after personalization.
    Revoked,
    /// Replaced by a new job built from the same record.
    Superseded,
}

/// Something done to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobAction {
    /// An approver lets a prepared job into its branch's queue.
    Approve,
    /// The service queues a prepared job at once, when the issuer turned four-eyes off.
    AutoApprove,
    /// An approver turns a prepared job down.
    Reject,
    /// An operator takes a queued job for its station, under a lease.
    Claim,
    /// The claimer extends its lease.
    Renew,
    /// The claimer gives the job back to the queue.
    Release,
    /// The service takes back a job whose lease ran out.
    ExpireLease,
    /// The claimer reports the card written and verified.
    ReportPersonalized,
    /// The claimer reports a failed attempt (the card is spoiled).
    ReportFailed,
    /// A clerk withdraws a job before it reaches a card.
    Cancel,
    /// A clerk records that a personalized card was lost.
    Revoke,
    /// A clerk replaces the job by a new one built from the same record.
    Reissue,
}

/// What a user account may do (see [`TRANSITIONS`] for jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Users, branches, station approval, settings; no issuing.
    Admin,
    /// Imports records, uploads jobs, cancels, revokes, reissues.
    Clerk,
    /// Approves or rejects prepared jobs it did not create.
    Approver,
    /// Works one branch's queue from its stations.
    Operator,
    /// Reads the audit log and reports; nothing else.
    Auditor,
}

/// Who takes an action: a role, or the service itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A signed-in user with this role.
    Role(Role),
    /// The service (lease expiry).
    Service,
}

/// One row of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state the job must be in.
    pub from: JobState,
    /// The action.
    pub action: JobAction,
    /// Who may take it.
    pub actor: Actor,
    /// The state it leads to.
    pub to: JobState,
}

const fn row(from: JobState, action: JobAction, actor: Actor, to: JobState) -> Transition {
    Transition {
        from,
        action,
        actor,
        to,
    }
}

use Actor::Service;
use JobAction as A;
use JobState as S;
const CLERK: Actor = Actor::Role(Role::Clerk);
const APPROVER: Actor = Actor::Role(Role::Approver);
const OPERATOR: Actor = Actor::Role(Role::Operator);

/// The transition table: the only (state, action) pairs that are allowed.
pub const TRANSITIONS: &[Transition] = &[
    row(S::Prepared, A::Approve, APPROVER, S::Queued),
    row(S::Prepared, A::AutoApprove, Service, S::Queued),
    row(S::Prepared, A::Reject, APPROVER, S::Cancelled),
    row(S::Prepared, A::Cancel, CLERK, S::Cancelled),
    row(S::Prepared, A::Reissue, CLERK, S::Superseded),
    row(S::Queued, A::Claim, OPERATOR, S::Claimed),
    row(S::Queued, A::Cancel, CLERK, S::Cancelled),
    row(S::Queued, A::Reissue, CLERK, S::Superseded),
    // A verified card reported after its lease ran out, before anyone claimed the job again
    // (the service checks that the report names the claim that expired).
    row(S::Queued, A::ReportPersonalized, OPERATOR, S::Personalized),
    row(S::Claimed, A::Renew, OPERATOR, S::Claimed),
    row(S::Claimed, A::Release, OPERATOR, S::Queued),
    row(S::Claimed, A::ExpireLease, Service, S::Queued),
    row(S::Claimed, A::ReportPersonalized, OPERATOR, S::Personalized),
    row(S::Claimed, A::ReportFailed, OPERATOR, S::Queued),
    row(S::Personalized, A::Revoke, CLERK, S::Revoked),
    row(S::Revoked, A::Reissue, CLERK, S::Superseded),
];

/// Why an action was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransitionError {
    /// The table has no row for this state and action.
    #[error("a {} job cannot be {}: {}", .state, .action.past_tense(), allowed_hint(*.state))]
    NotAllowed {
        /// The job's state.
        state: JobState,
        /// The action asked for.
        action: JobAction,
    },
    /// The table has a row, for another actor.
    #[error("only {} may {} a {} job", .allowed, .action, .state)]
    WrongActor {
        /// The job's state.
        state: JobState,
        /// The action asked for.
        action: JobAction,
        /// Who may take it.
        allowed: Actor,
    },
}

fn allowed_hint(state: JobState) -> String {
    let actions: Vec<&str> = allowed_actions(state).map(JobAction::as_str).collect();
    if actions.is_empty() {
        format!("{state} is final")
    } else {
        format!(
            "the actions possible from {state} are {}",
            actions.join(", ")
        )
    }
}

/// The state `action` by `actor` leads to from `from`, or why it is refused.
pub fn transition(
    from: JobState,
    action: JobAction,
    actor: Actor,
) -> Result<JobState, TransitionError> {
    match TRANSITIONS
        .iter()
        .find(|t| t.from == from && t.action == action)
    {
        Some(t) if t.actor == actor => Ok(t.to),
        Some(t) => Err(TransitionError::WrongActor {
            state: from,
            action,
            allowed: t.actor,
        }),
        None => Err(TransitionError::NotAllowed {
            state: from,
            action,
        }),
    }
}

/// The actions the table allows from `state`, in table order.
pub fn allowed_actions(state: JobState) -> impl Iterator<Item = JobAction> {
    TRANSITIONS
        .iter()
        .filter(move |t| t.from == state)
        .map(|t| t.action)
}

/// A name that is not one of an enum's names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?}; expected one of {expected}")]
pub struct UnknownName {
    kind: &'static str,
    name: String,
    expected: String,
}

macro_rules! names {
    ($ty:ident, $kind:literal, $($variant:ident => $name:literal),+ $(,)?) => {
        impl $ty {
            /// Every value, in declaration order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name used in the API, the database and the audit log.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownName;

            fn from_str(name: &str) -> Result<Self, UnknownName> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == name)
                    .ok_or_else(|| UnknownName {
                        kind: $kind,
                        name: name.to_owned(),
                        expected: $ty::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", "),
                    })
            }
        }
    };
}

names!(JobState, "job state",
    Prepared => "prepared", Queued => "queued", Claimed => "claimed",
    Personalized => "personalized", Cancelled => "cancelled", Revoked => "revoked",
    Superseded => "superseded");
names!(JobAction, "job action",
    Approve => "approve", AutoApprove => "auto-approve", Reject => "reject", Claim => "claim", Renew => "renew",
    Release => "release", ExpireLease => "expire-lease",
    ReportPersonalized => "report-personalized", ReportFailed => "report-failed",
    Cancel => "cancel", Revoke => "revoke", Reissue => "reissue");
names!(Role, "role",
    Admin => "admin", Clerk => "clerk", Approver => "approver", Operator => "operator",
    Auditor => "auditor");

impl JobAction {
    fn past_tense(self) -> &'static str {
        match self {
            A::Approve => "approved",
            A::AutoApprove => "approved automatically",
            A::Reject => "rejected",
            A::Claim => "claimed",
            A::Renew => "renewed",
            A::Release => "released",
            A::ExpireLease => "expired",
            A::ReportPersonalized => "reported personalized",
            A::ReportFailed => "reported failed",
            A::Cancel => "cancelled",
            A::Revoke => "revoked",
            A::Reissue => "reissued",
        }
    }
}

impl JobState {
    /// Whether the job's `.vsc`, envelopes and its record's private fields are to be deleted
    /// on entering this state (the card is done, or will never be).
    pub fn purges(self) -> bool {
        matches!(self, S::Personalized | S::Cancelled)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::Role(Role::Clerk) => f.write_str("a clerk"),
            Actor::Role(role) => write!(f, "an {role}"),
            Service => f.write_str("the service"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_path_works() {
        let mut state = S::Prepared;
        for (action, actor) in [
            (A::Approve, APPROVER),
            (A::Claim, OPERATOR),
            (A::ReportFailed, OPERATOR),
            (A::Claim, OPERATOR),
            (A::Renew, OPERATOR),
            (A::ReportPersonalized, OPERATOR),
            (A::Revoke, CLERK),
            (A::Reissue, CLERK),
        ] {
            state = transition(state, action, actor).unwrap();
        }
        assert_eq!(state, S::Superseded);
    }

    #[test]
    fn every_other_pair_is_refused_with_a_reason() {
        for &state in JobState::ALL {
            for &action in JobAction::ALL {
                let listed = TRANSITIONS
                    .iter()
                    .any(|t| t.from == state && t.action == action);
                let result = transition(state, action, CLERK);
                if !listed {
                    let err = result.unwrap_err();
                    assert_eq!(err, TransitionError::NotAllowed { state, action });
                    assert!(err.to_string().contains(state.as_str()), "{err}");
                }
            }
        }
        let err = transition(S::Prepared, A::Approve, CLERK).unwrap_err();
        assert_eq!(
            err.to_string(),
            "only an approver may approve a prepared job"
        );
        let err = transition(S::Personalized, A::Claim, OPERATOR).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a personalized job cannot be claimed: the actions possible from personalized are revoke"
        );
        let err = transition(S::Cancelled, A::Approve, APPROVER).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a cancelled job cannot be approved: cancelled is final"
        );
    }

    #[test]
    fn the_table_has_one_row_per_state_and_action() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in &TRANSITIONS[i + 1..] {
                assert!(
                    !(a.from == b.from && a.action == b.action),
                    "{a:?} and {b:?}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip_and_unknown_names_say_what_is_expected() {
        for &s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
        }
        for &a in JobAction::ALL {
            assert_eq!(a.as_str().parse::<JobAction>().unwrap(), a);
        }
        for &r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        let err = "boss".parse::<Role>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown role \"boss\"; expected one of admin, clerk, approver, operator, auditor"
        );
    }

    #[test]
    fn only_personalized_and_cancelled_purge() {
        let purging: Vec<JobState> = JobState::ALL
            .iter()
            .copied()
            .filter(|s| s.purges())
            .collect();
        assert_eq!(purging, [S::Personalized, S::Cancelled]);
    }
}
