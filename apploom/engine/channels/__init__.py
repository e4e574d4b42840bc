"""Sales channels: platforms posting their orders, mapped by definitions to the app's orders."""
