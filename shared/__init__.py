"""The one package every tart-mailer service imports: config, db, broker, domain code and SQL."""
