//! Database text <-> domain enums, in one place: trial and sweep states and
//! the metric goal are bound and decoded as their enums, so that SQL never
//! compares a state spelt by hand, and a stored value that names none of an
//! enum's values is an error naming its column and value, never a default.
use crate::spec::Goal;
use crate::state::{SweepState, TrialState};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{Sqlite, SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Type};

/// The text of a goal, as the `metric_goal` column holds it.
pub(crate) const fn goal_str(goal: Goal) -> &'static str {
    match goal {
        Goal::Maximize => "maximize",
        Goal::Minimize => "minimize",
    }
}

/// A stored goal's text that is neither `maximize` nor `minimize`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a goal (maximize or minimize)")]
struct UnknownGoal(String);

fn parse_goal(text: &str) -> Result<Goal, UnknownGoal> {
    [Goal::Maximize, Goal::Minimize]
        .into_iter()
        .find(|g| goal_str(*g) == text)
        .ok_or_else(|| UnknownGoal(text.to_string()))
}

/// Implements sqlx's `Type`, `Encode` and `Decode` for an enum stored as text.
macro_rules! text_enum {
    ($ty:ty, $to_text:expr, $from_text:expr) => {
        impl Type<Sqlite> for $ty {
            fn type_info() -> SqliteTypeInfo {
                <&str as Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <&str as Type<Sqlite>>::compatible(ty)
            }
        }

        impl<'q> Encode<'q, Sqlite> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut Vec<SqliteArgumentValue<'q>>,
            ) -> Result<IsNull, BoxDynError> {
                let text: &'static str = $to_text(*self);
                <&str as Encode<'q, Sqlite>>::encode(text, buf)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $ty {
            /// sqlx wraps the error with the column's name
            /// (`ColumnDecode`); the message names the value.
            fn decode(value: SqliteValueRef<'r>) -> Result<$ty, BoxDynError> {
                let text = <&str as Decode<'r, Sqlite>>::decode(value)?;
                Ok($from_text(text)?)
            }
        }
    };
}

text_enum!(TrialState, TrialState::as_str, str::parse::<TrialState>);
text_enum!(SweepState, SweepState::as_str, str::parse::<SweepState>);
text_enum!(Goal, goal_str, parse_goal);

/// The trial states that have a final metric ("best" is chosen among them),
/// as an SQL list. A literal, not a bind: SQLite uses the partial indexes
/// `trials_best_*` (migration 000003) only for a WHERE clause that repeats
/// their condition; the test below ties it to the enum's spelling.
pub(crate) const SQL_SCORED_STATES: &str = "('completed', 'pruned')";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scored_states_literal_spells_the_enum() {
        let list = [TrialState::Completed, TrialState::Pruned]
            .map(|s| format!("'{}'", s.as_str()))
            .join(", ");
        assert_eq!(SQL_SCORED_STATES, format!("({list})"));
    }

    #[test]
    fn goals_read_back_and_an_unknown_one_is_named() {
        for goal in [Goal::Maximize, Goal::Minimize] {
            assert_eq!(parse_goal(goal_str(goal)).unwrap(), goal);
            assert_eq!(
                serde_json::to_value(goal).unwrap(),
                serde_json::json!(goal_str(goal))
            );
        }
        let e = parse_goal("Minimise").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`Minimise` is not a goal (maximize or minimize)"
        );
    }
}
