"""Mail sources: Gmail through googleapiclient, and Google Takeout `.mbox` files."""
