//! The ERP-side gateway: durable outbox, exactly-once submission, polling, webhooks.
