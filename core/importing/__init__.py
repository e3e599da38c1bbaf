"""Importing the files an office already has: guideline calendars (.ics), and spreadsheets
(.csv, .xlsx) holding guideline lists, the roster or the task sheet, recognised by headers."""
