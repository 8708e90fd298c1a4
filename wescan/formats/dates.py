"""How WeScan writes dates and times in every language: the day before the month, the 24-hour
clock (hospitals run on it), weeks from Monday. Each language's formats.py adds its numbers."""

DATE_FORMAT = "j F Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j F Y, H:i"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
MONTH_DAY_FORMAT = "j F"
YEAR_MONTH_FORMAT = "F Y"
FIRST_DAY_OF_WEEK = 1
NUMBER_GROUPING = 3
