"""Ingest tests: every file is generated in tmp_path the way Excel and CRM/helpdesk tools write them."""

# A store survey as Excel saves it: a title row above the header, a quoted cell with a line break, trailing empty
# columns, an empty row, and a row without text.
SURVEY_CSV = (
    "2026年11月 店舗アンケート結果,,,,\r\n"
    "店舗,投稿日,評価,本文,\r\n"
    '渋谷店,2026/11/03 14:05,★★★★☆,"配送は早かったけど、\n箱が潰れていました。",\r\n'
    ",,,,\r\n"
    "新宿店,2026年11月4日 9時30分,５,スタッフの対応が丁寧で満足です。,\r\n"
    "池袋店,2026/11/05,2,,\r\n"
)
SURVEY_HEADERS = ["店舗", "投稿日", "評価", "本文"]
FIRST_TEXT = "配送は早かったけど、\n箱が潰れていました。"
