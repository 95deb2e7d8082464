//! A trial's parameters as users see them: one whose `when` did not hold
//! for the trial is not applicable and shows as null, never as the value
//! the network was built with (Adam's trials are not trained with SGD's
//! `momentum`, whatever its stored value).
use super::{ParamName, SweepSpec};
use serde_json::Value;
use std::collections::BTreeMap;

impl SweepSpec {
    /// The parameters of this spec whose `when` does not hold for `params`
    /// (a trial's stored parameters, by name), parents first.
    pub fn not_applicable(&self, params: &serde_json::Map<String, Value>) -> Vec<ParamName> {
        let mut chosen = BTreeMap::new();
        let mut off = Vec::new();
        for name in self.order() {
            if self.applies(*name, &chosen) {
                let value = params.get(name.as_str()).cloned().unwrap_or(Value::Null);
                chosen.insert(*name, value);
            } else {
                off.push(*name);
            }
        }
        off
    }

    /// `params` with every parameter that did not apply set to null.
    pub fn shown(&self, mut params: Value) -> Value {
        if let Some(map) = params.as_object_mut() {
            for name in self.not_applicable(map) {
                map.insert(name.as_str().to_string(), Value::Null);
            }
        }
        params
    }
}

#[cfg(test)]
mod tests {
    use crate::spec::{Format, Limits, SweepSpec};
    use serde_json::json;

    #[test]
    fn a_parameter_whose_when_fails_shows_as_null() {
        let spec = SweepSpec::parse(
            "method: random\nmax_trials: 2\nparameters:\n  optimizer: {values: [sgd, adam]}\n  \
             momentum: {values: [0.5, 0.9], when: {optimizer: sgd}}\n  learning_rate: {value: 0.01}\n",
            Format::Yaml,
            &Limits::default(),
            &|_| Ok(crate::spec::DatasetShape { features: 784, classes: 10 }),
            1,
        )
        .unwrap();
        let adam =
            json!({"optimizer": "adam", "momentum": 0.9, "learning_rate": 0.01, "epochs": 5});
        let sgd = json!({"optimizer": "sgd", "momentum": 0.5, "learning_rate": 0.01, "epochs": 5});
        assert_eq!(
            spec.shown(adam),
            json!({"optimizer": "adam", "momentum": null, "learning_rate": 0.01, "epochs": 5})
        );
        assert_eq!(spec.shown(sgd.clone()), sgd);
        // Bayes's trials have no parameters until claimed.
        assert_eq!(spec.shown(json!(null)), json!(null));
    }
}
