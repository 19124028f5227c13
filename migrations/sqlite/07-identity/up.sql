-- An alert's identity is its group and its complete label set, `severity`
-- included, as in Prometheus and Alertmanager. Before this release the
-- fingerprint left `severity` out; the hook of this migration
-- (src/store/rekey.rs) recomputes every stored fingerprint from the stored
-- labels, so alerts whose identity did not change keep their rows, timers
-- and notification history, and those whose did keep them under the new key.

-- How the alert is sent: 'native' (tocsin adds its level as `severity` and
-- its message and resolution as annotations) or 'prometheus' (labels and
-- annotations exactly as they are). Set by the rule on its next evaluation.
ALTER TABLE alerts ADD COLUMN format TEXT NOT NULL DEFAULT 'native'
    CHECK (format IN ('native', 'prometheus'));
-- The link the alert carries as `generatorURL`.
ALTER TABLE alerts ADD COLUMN generator_url TEXT NOT NULL DEFAULT '';

-- Posted alerts are Prometheus-format, and keep the generatorURL they gave.
UPDATE alerts SET format = 'prometheus',
    generator_url = (SELECT e.generator_url FROM external_alerts AS e
                     WHERE e.fingerprint = alerts.fingerprint)
WHERE fingerprint IN (SELECT fingerprint FROM external_alerts);
-- Native rules never store a `severity` label; a stored one came from a
-- Prometheus-format rule.
UPDATE alerts SET format = 'prometheus' WHERE json_extract(labels, '$.severity') IS NOT NULL;
