"""Who may do what and how much: staff sign-in and sessions, roles as capabilities, the widget's signed identity, CSRF and edge checks, rate limits."""
