"""HTTP ends here: parse requests, call the service, render Twilio-shaped JSON. Nothing else."""
