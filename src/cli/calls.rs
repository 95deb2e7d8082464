//! The client's calls that manage a sweep's life: list, extend, enqueue,
//! fork, delete, and the trials as CSV.
use super::client::{Client, ClientError};
use serde_json::Value;

impl Client {
    /// `GET /v1/sweeps?limit=N`: the newest sweeps.
    pub async fn sweeps(&self, limit: i64) -> Result<Value, ClientError> {
        self.get(&format!("/v1/sweeps?limit={limit}")).await
    }

    /// `PATCH /v1/sweeps/{id}`: the sweep with its new budget.
    pub async fn extend(&self, id: i64, changes: &Value) -> Result<Value, ClientError> {
        let request = self
            .http
            .patch(self.url(&format!("/v1/sweeps/{id}")))
            .json(changes);
        self.json(self.send(request).await?).await
    }

    /// `POST /v1/sweeps/{id}/trials`: the queued trial.
    pub async fn enqueue(&self, id: i64, params: &Value) -> Result<Value, ClientError> {
        let request = self
            .http
            .post(self.url(&format!("/v1/sweeps/{id}/trials")))
            .json(&serde_json::json!({ "params": params }));
        self.json(self.send(request).await?).await
    }

    /// `POST /v1/sweeps/{id}/fork`: the new sweep.
    pub async fn fork(
        &self,
        id: i64,
        changes: String,
        content_type: &str,
    ) -> Result<Value, ClientError> {
        let request = self
            .http
            .post(self.url(&format!("/v1/sweeps/{id}/fork")))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(changes);
        self.json(self.send(request).await?).await
    }

    /// `DELETE /v1/sweeps/{id}`.
    pub async fn delete(&self, id: i64) -> Result<(), ClientError> {
        let request = self.http.delete(self.url(&format!("/v1/sweeps/{id}")));
        self.send(request).await.map(drop)
    }

    /// `GET /v1/sweeps/{id}/trials.csv`: the CSV text.
    pub async fn trials_csv(&self, id: i64) -> Result<String, ClientError> {
        let request = self
            .http
            .get(self.url(&format!("/v1/sweeps/{id}/trials.csv")));
        let response = self.send(request).await?;
        response.text().await.map_err(|e| self.connection_error(&e))
    }
}
