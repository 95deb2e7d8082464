//! Database text <-> domain enums, in one place: trial and sweep states and
//! the metric and its goal are bound and decoded as their enums, so that SQL never
//! compares a state spelt by hand, and a stored value that names none of an
//! enum's values is an error naming its column and value, never a default.
use crate::metric::{Goal, MetricName};
use crate::state::{SweepState, TrialState};
use sqlx::any::{Any, AnyTypeInfo, AnyValueRef};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Decode, Encode, Type};

/// Implements sqlx's `Type`, `Encode` and `Decode` for an enum stored as text.
macro_rules! text_enum {
    ($ty:ty, $to_text:expr, $from_text:expr) => {
        impl Type<Any> for $ty {
            fn type_info() -> AnyTypeInfo {
                <&str as Type<Any>>::type_info()
            }
            fn compatible(ty: &AnyTypeInfo) -> bool {
                <&str as Type<Any>>::compatible(ty)
            }
        }

        impl<'q> Encode<'q, Any> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<IsNull, BoxDynError> {
                let text: &'static str = $to_text(*self);
                <&str as Encode<'q, Any>>::encode(text, buf)
            }
        }

        impl<'r> Decode<'r, Any> for $ty {
            /// sqlx wraps the error with the column's name
            /// (`ColumnDecode`); the message names the value.
            fn decode(value: AnyValueRef<'r>) -> Result<$ty, BoxDynError> {
                let text = <&str as Decode<'r, Any>>::decode(value)?;
                Ok($from_text(text)?)
            }
        }
    };
}

text_enum!(TrialState, TrialState::as_str, str::parse::<TrialState>);
text_enum!(SweepState, SweepState::as_str, str::parse::<SweepState>);
text_enum!(Goal, Goal::as_str, str::parse::<Goal>);
text_enum!(MetricName, MetricName::as_str, str::parse::<MetricName>);

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
    fn an_unknown_goal_or_metric_is_named() {
        let e = "Minimise".parse::<Goal>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown goal `Minimise`; expected one of maximize, minimize"
        );
        let e = "f1".parse::<MetricName>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown metric `f1`; expected one of val_accuracy, val_loss, train_loss"
        );
    }
}
