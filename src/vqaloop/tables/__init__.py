"""vqaloop.tables"""
