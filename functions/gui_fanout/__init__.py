"""Fan-out: GUI events from the stream to the inbox, the replay log and the subscribed connections."""
